"""What WordNet itself says a word is: its lexicographer categories (noun.person, noun.location,
noun.food, verb.motion, ...), the judge of whether a group of latents shares a meaning.

A word's categories are counted over its synsets, after WordNet's own morphology (the exception lists
`*.exc`, then morphy's suffix rules: "walked" -> walk, "cities" -> city), case-insensitively. People's
and places' names are the lemmas of noun.person and noun.location synsets that are *instances* (WordNet's
`@i` pointer: Einstein is an instance of physicist, Paris of national capital; "American" and "Englishman" are
kinds of person, not names) and that WordNet knows only as names: the capitalised last word of a lemma ("Albert_Einstein" -> Einstein, "The_Hague" -> Hague) whose
lowercase form is no lemma word anywhere in WordNet, so "Einstein", "Lincoln", "Paris" count and "Man",
"South", "Act" (WordNet also writes "man", "south", "act") do not.
"""

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from backend.data.wordnet import WORDNET_DIR, read_synsets

LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)  # fmt: skip
"""WordNet 3.0's lexicographer files, by the number each `data.*` line gives in its second field."""

_SUFFIXES = (
    ("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
    ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""), ("er", ""),
    ("est", ""), ("er", "e"), ("est", "e"),
)  # fmt: skip
"""Morphy's detachment rules for nouns, verbs and adjectives together."""
_EXCEPTION_FILES = ("noun.exc", "verb.exc", "adj.exc", "adv.exc")
PERSON = LEXNAMES.index("noun.person")
LOCATION = LEXNAMES.index("noun.location")
NAMED_KINDS = frozenset(
    LEXNAMES.index(name)
    for name in ("noun.person", "noun.location", "noun.object", "noun.time", "noun.group", "noun.event", "noun.animal")
)
"""What a name can name: a person, a place, a heavenly body or river (object), a holiday (time), a people (group),
a war (event), a breed (animal). Works named after their maker ("a Mozart", noun.communication; "a Rembrandt",
noun.artifact) do not make a name less a person's."""


@dataclass(frozen=True)
class Lexicon:
    senses: dict[str, dict[int, int]]
    """Lowercase lemma -> lexicographer file number -> how many of its synsets are in that file."""
    exceptions: dict[str, tuple[str, ...]]
    """Irregular inflection -> its base forms ("geese" -> goose)."""
    people: frozenset[str]
    places: frozenset[str]

    def categories(self, word: str) -> Counter[int]:
        """Synset counts per lexicographer file of `word` and of its base forms (empty when not a word)."""
        word = word.strip().lower()
        if not word.isalpha():
            return Counter()
        found: Counter[int] = Counter(self.senses.get(word, {}))
        if found:
            return found
        bases = set(self.exceptions.get(word, ()))
        bases.update(word[: -len(end)] + add for end, add in _SUFFIXES if word.endswith(end) and len(word) > len(end))
        for base in sorted(bases):
            found.update(self.senses.get(base, {}))
        return found

    def name_shares(self, word: str) -> tuple[float, float]:
        """How much `word` (as written) is a person's and a place's name: 0 for words that are no name; else the
        shares of its synsets among the NAMED_KINDS that are noun.person and noun.location ("Jupiter": the god
        and the planet, 0.5 / 0; "Christmas", a holiday and Father Christmas's last word, 0 / 0; "Paris" 1/3 / 2/3)."""
        if word not in self.people and word not in self.places:
            return 0.0, 0.0
        named = {lex: n for lex, n in self.senses.get(word.lower(), {}).items() if lex in NAMED_KINDS}
        total = sum(named.values())
        if not total:  # only ever the last word of longer names ("Hague" of "The_Hague")
            both = word in self.people and word in self.places
            return (0.5, 0.5) if both else (float(word in self.people), float(word in self.places))
        return named.get(PERSON, 0) / total, named.get(LOCATION, 0) / total

    def dominant(self, word: str) -> str | None:
        """The category most of the word's synsets are in (ties to the lower file number), or None."""
        counts = self.categories(word)
        if not counts:
            return None
        return LEXNAMES[min(counts, key=lambda lex: (-counts[lex], lex))]


def _synsets(folder: Path) -> list[tuple[str, int, list[str], bool]]:
    """(part of speech file, lexicographer file number, lemmas as written, is an instance) of every synset."""
    return [
        (name, synset.lex_file, [word.split("(")[0] for word in synset.words],
         any(symbol == "@i" for symbol, _, _ in synset.pointers))
        for name, synset in read_synsets(folder)
    ]  # fmt: skip


def _lower_words(synsets: list[tuple[str, int, list[str], bool]]) -> set[str]:
    """Every lowercase word of every lemma ("south" of "South_Africa" is not one; of "south_wind" it is)."""
    words = {part for _, _, lemmas, _ in synsets for lemma in lemmas for part in lemma.replace("-", "_").split("_")}
    return {word for word in words if word.islower()}


def _names(synsets: list[tuple[str, int, list[str], bool]], lex_file: int, lower: set[str]) -> frozenset[str]:
    """Names WordNet knows only as names, from the instance noun synsets of `lex_file` (see the module rule)."""
    found = set()
    for name, lex, lemmas, instance in synsets:
        if name != "data.noun" or lex != lex_file or not instance:
            continue
        for lemma in lemmas:
            word = lemma.replace("-", "_").split("_")[-1]
            if len(word) >= 3 and word.isalpha() and word[0].isupper() and not word.isupper():
                found.add(word)
    return frozenset(word for word in found if word.lower() not in lower)


def _read_exceptions(folder: Path) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name in _EXCEPTION_FILES:
        path = folder / name
        if path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                words = line.split()
                if len(words) >= 2:
                    found[words[0]] = (*found.get(words[0], ()), *words[1:])
    return found


@cache
def load_lexicon(folder: Path = WORDNET_DIR) -> Lexicon:
    """WordNet's categories and names, read once per process."""
    synsets = _synsets(folder)
    senses: dict[str, dict[int, int]] = {}
    for _, lex, lemmas, _ in synsets:
        for lemma in lemmas:
            counts = senses.setdefault(lemma.lower(), {})
            counts[lex] = counts.get(lex, 0) + 1
    lower = _lower_words(synsets)
    return Lexicon(
        senses=senses,
        exceptions=_read_exceptions(folder),
        people=_names(synsets, PERSON, lower),
        places=_names(synsets, LOCATION, lower),
    )
