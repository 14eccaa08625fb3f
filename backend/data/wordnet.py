"""WordNet 3.0's `data.*` files (Debian `wordnet-base`), read in one place: the corpus's glosses, the lexicon's
categories and names, and the polysemy probe's senses all come from `read_synsets`.

A `data.*` line is `offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] [frames...] |
gloss`, with `w_cnt` in hexadecimal and each pointer `symbol offset pos source/target`; the licence header's lines
start with two spaces (wndb(5WN)).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import MissingDependency

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
WORDNET_INSTALL = "sudo apt-get install wordnet-base"


@dataclass(frozen=True)
class Synset:
    offset: str
    lex_file: int
    """The lexicographer file's number (noun.artifact, noun.person, ...)."""
    pos: str
    """n, v, a, s (adjective satellite) or r."""
    words: tuple[str, ...]
    """Its lemmas as written: underscores for spaces, adjective markers such as "(a)" kept."""
    pointers: tuple[tuple[str, str, str], ...]
    """(symbol, offset, part of speech) of each pointer: "@" hypernym, "@i" instance hypernym, ..."""
    gloss: str
    """Everything after " | ": the definition, then its quoted examples."""


def parse_synset(line: str) -> Synset | None:
    """One `data.*` line; None for the licence header or a line that is not a synset."""
    if line.startswith("  ") or " | " not in line:
        return None
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    try:
        n_words = int(fields[3], 16)
        at = 4 + 2 * n_words
        pointers = tuple((fields[at + 1 + 4 * i], fields[at + 2 + 4 * i], fields[at + 3 + 4 * i])
                         for i in range(int(fields[at])))  # fmt: skip
        return Synset(fields[0], int(fields[1]), fields[2], tuple(fields[4:at:2]), pointers, gloss)
    except (ValueError, IndexError):
        return None


def read_synsets(folder: Path = WORDNET_DIR) -> Iterator[tuple[str, Synset]]:
    """(file name, synset) of every synset, file by file in `WORDNET_FILES` order and in file order within each;
    MissingDependency saying how to install WordNet when a file is missing."""
    paths = [folder / name for name in WORDNET_FILES]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise MissingDependency(f"WordNet's {', '.join(missing)} are missing: run `{WORDNET_INSTALL}`.")
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                synset = parse_synset(line)
                if synset is not None:
                    yield path.name, synset
