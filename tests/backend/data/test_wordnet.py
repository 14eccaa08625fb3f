"""WordNet's data lines, parsed once for the corpus, the lexicon and the polysemy probe."""

from pathlib import Path

import pytest

from backend.core.errors import MissingDependency
from backend.data.corpus import wordnet_text
from backend.data.wordnet import parse_synset, read_synsets

LINE = (
    "02084071 05 n 02 dog 0 domestic_dog 0 003 @ 02083346 n 0000 @i 01317541 n 0000 ~ 01322604 n 0000 | a member of "
    'the genus Canis; "the dog barked all night"  \n'
)


def test_a_data_line_gives_its_parts() -> None:
    synset = parse_synset(LINE)
    assert synset is not None
    assert (synset.offset, synset.lex_file, synset.pos, synset.words) == ("02084071", 5, "n", ("dog", "domestic_dog"))
    assert synset.pointers == (("@", "02083346", "n"), ("@i", "01317541", "n"), ("~", "01322604", "n"))
    assert wordnet_text(synset) == 'dog: a member of the genus Canis; "the dog barked all night"'


@pytest.mark.parametrize(
    "line", ["  1 This software and database is being provided\n", "02084071 05 n zz dog | x\n", ""]
)
def test_the_licence_header_and_broken_lines_are_not_synsets(line: str) -> None:
    assert parse_synset(line) is None


def test_adjective_markers_are_not_part_of_the_corpus_lemma() -> None:
    synset = parse_synset("00001740 00 a 01 able(a) 0 000 | having the necessary means\n")
    assert synset is not None and wordnet_text(synset) == "able: having the necessary means"


def test_missing_files_say_how_to_install_them_and_name_no_folder(tmp_path: Path) -> None:
    (tmp_path / "data.noun").write_text(LINE)
    with pytest.raises(MissingDependency, match="wordnet-base") as raised:
        list(read_synsets(tmp_path))
    assert str(tmp_path) not in str(raised.value) and "data.verb" in str(raised.value)
