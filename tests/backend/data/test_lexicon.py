"""WordNet's categories of words: lemmas, irregular and regular inflections, names of people and places."""

from backend.data.lexicon import LEXNAMES, load_lexicon


def test_categories_follow_wordnet_and_its_morphology() -> None:
    lexicon = load_lexicon()
    assert lexicon.dominant("Einstein") == "noun.person"
    assert lexicon.dominant("Paris") == "noun.location"
    assert lexicon.dominant("apple") == "noun.food"
    # Inflections reach their lemma: irregular from the exception lists, regular by morphy's rules.
    assert lexicon.dominant("children") == lexicon.dominant("child") == "noun.person"
    assert lexicon.categories("cities") == lexicon.categories("city")
    assert lexicon.categories("walked") == lexicon.categories("walk")
    assert not lexicon.categories("instein") and not lexicon.categories("the") and not lexicon.categories("1984")
    assert len(LEXNAMES) == 45 and LEXNAMES[18] == "noun.person" and LEXNAMES[15] == "noun.location"


def test_people_and_places_are_names_wordnet_knows_only_as_names() -> None:
    lexicon = load_lexicon()
    names = lexicon.people | lexicon.places
    assert {"Einstein", "Lincoln", "Germany", "Aristotle", "Paris"} <= names
    # Sentence capitals and capitalised common words: WordNet also writes them in lower case.
    assert not {"The", "This", "When", "And", "Man", "South", "Act", "einstein"} & names
    assert {"Einstein", "Lincoln", "Stalin", "Shakespeare"} <= lexicon.people
    assert not {"Greece", "Texas", "Europe"} & lexicon.people
    assert {"Greece", "Texas", "Paris", "Tokyo"} <= lexicon.places
    # Kinds of people are not names: they have no instance pointer.
    assert not {"American", "Englishman", "Italian"} & (lexicon.people | lexicon.places)
    # Some names are both (Paris of Troy, Abraham Lincoln and Lincoln, Nebraska).
    assert {"Paris", "Lincoln", "Washington"} <= lexicon.people & lexicon.places


def test_a_name_counts_by_the_share_of_its_senses_that_name_a_person_or_a_place() -> None:
    lexicon = load_lexicon()
    assert lexicon.name_shares("Einstein") == (1.0, 0.0)
    assert lexicon.name_shares("Jupiter") == (0.5, 0.0)  # the god and the planet
    assert lexicon.name_shares("Christmas") == (0.0, 0.0)  # a holiday (and the last word of Father Christmas)
    person, place = lexicon.name_shares("Paris")
    assert place > person > 0
    assert lexicon.name_shares("Texas") == (0.0, 1.0)
    assert lexicon.name_shares("apple") == (0.0, 0.0)
