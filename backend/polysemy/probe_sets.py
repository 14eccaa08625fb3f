"""Word-in-context probe sets: pairs (word, context1, context2, same meaning or not).

Offline: built from WordNet's sense-labelled example sentences (two examples of one synset = same
meaning, examples of two clearly distinct senses of the word = different), balanced and deterministic. Online: the
WiC-based PS-Eval set on the Hub. Users can upload a CSV with the same columns.
"""

import csv
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from backend.core.errors import AtlasError, first_line
from backend.data.wordnet import WORDNET_DIR, Synset, read_synsets
from backend.sources.hub import Location, fetch_snapshot

COLUMNS = ("word", "context1", "context2", "same")
"""`same`: True when the word has the same meaning in both contexts (WiC's label 1 / T)."""
PS_EVAL_REPO = "gouki510/Wic_data_for_SAE-Eval"
_ALIASES = {
    "word": ("word", "target", "lemma", "target_word"),
    "context1": ("context1", "context_1", "sentence1", "sentence_1", "sent1", "text1"),
    "context2": ("context2", "context_2", "sentence2", "sentence_2", "sent2", "text2"),
    "same": ("same", "label", "labels", "gold", "same_meaning"),
}
_TRUE = {"1", "true", "t", "yes", "same"}
_FALSE = {"0", "false", "f", "no", "different"}
MAX_CONTEXT = 1000
MAX_UPLOAD_BYTES = 2 * 10**6
MAX_PAIRS = 5000
MAX_COLUMNS = 32
"""Columns an uploaded CSV's header may have (four are read): a header of thousands is refused before parsing, which
would otherwise build a table column by column (250,000 columns: 31 s and 1.6 GB)."""


class ProbeSetError(AtlasError):
    """A probe set that cannot be read; the message names the bad row or column."""


@dataclass(frozen=True)
class _Synset:
    key: str
    """Part of speech and offset ("n02787772"); adjective satellites count as adjectives."""
    category: int
    """The lexicographer file's number (noun.artifact, noun.object, ...)."""
    linked: frozenset[str]
    """Every synset a WordNet pointer of this one names."""
    hypernyms: frozenset[str]
    examples: dict[str, list[str]]
    """Single-word lemma -> this synset's example sentences containing it."""


PROBED_POS = ("n", "v")
"""Nouns and verbs, as in WiC (Pilehvar & Camacho-Collados 2019), whose pairs PS-Eval reads."""


def _pos(letter: str) -> str:
    return "a" if letter == "s" else letter


def _probed(synset: Synset) -> _Synset:
    """What the probe reads of a synset: its key, lexicographer file, pointers, and the example sentences (quoted in
    its gloss) that contain each of its single-word lemmas."""
    lemmas = {re.sub(r"\(.*\)$", "", w).lower() for w in synset.words}
    texts = [text.strip() for text in re.findall(r'"([^"]{10,300})"', synset.gloss)]
    examples = {
        lemma: found
        for lemma in sorted(lemmas)
        if lemma.isalpha()
        and (found := [t for t in texts if re.search(rf"\b{re.escape(lemma)}\b", t, flags=re.IGNORECASE)])
    }
    return _Synset(
        key=_pos(synset.pos) + synset.offset,
        category=synset.lex_file,
        linked=frozenset(_pos(pos) + offset for _, offset, pos in synset.pointers),
        hypernyms=frozenset(_pos(pos) + offset for symbol, offset, pos in synset.pointers if symbol in ("@", "@i")),
        examples=examples,
    )


def distinct_senses(a: _Synset, b: _Synset) -> bool:
    """Two senses a reader should tell apart: one part of speech, different lexicographer files, and neither
    linked to the other by a WordNet pointer nor sharing a hypernym with it. WiC pruned WordNet's finest
    distinctions in this spirit; two random senses of a word are often a hair apart ("run": 41 verb senses)."""
    return (
        a.key[0] == b.key[0]
        and a.category != b.category
        and a.key not in b.linked
        and b.key not in a.linked
        and not a.hypernyms & b.hypernyms
    )


def _senses(folder: Path) -> dict[str, list[_Synset]]:
    """word -> the noun and verb synsets with an example sentence containing it."""
    senses: dict[str, list[_Synset]] = {}
    for _, synset in read_synsets(folder):
        if _pos(synset.pos) in PROBED_POS:
            probed = _probed(synset)
            for lemma in probed.examples:
                senses.setdefault(lemma, []).append(probed)
    return senses


def wordnet_probe_set(max_pairs: int = 400, seed: int = 0, folder: Path = WORDNET_DIR) -> pd.DataFrame:
    """Balanced same/different-sense pairs of polysemous WordNet nouns and verbs, at most one of each kind per
    word: *same* = two examples of one synset, *different* = examples of two `distinct_senses`. Only words with
    two distinct senses are used, so both kinds come from the same words.

    Deterministic: words and senses are visited in sorted order and sampled with `seed`."""
    rng = random.Random(seed)
    same, different = [], []
    for word, synsets in sorted(_senses(folder).items()):
        synsets = sorted(synsets, key=lambda s: s.key)
        distinct = [(a, b) for i, a in enumerate(synsets) for b in synsets[i + 1 :] if distinct_senses(a, b)]
        if not distinct:
            continue
        multi = [s for s in synsets if len(s.examples[word]) >= 2]
        if multi:
            pair = rng.sample(rng.choice(multi).examples[word], 2)
            same.append((word, pair[0], pair[1], True))
        a, b = rng.choice(distinct)
        different.append((word, rng.choice(a.examples[word]), rng.choice(b.examples[word]), False))
    n = min(len(same), len(different), max_pairs // 2)
    rows = rng.sample(same, n) + rng.sample(different, n)
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _column(frame: pd.DataFrame, name: str) -> str:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for alias in _ALIASES[name]:
        if alias in lowered:
            return str(lowered[alias])
    raise ProbeSetError(
        f"No {name!r} column (accepted names: {', '.join(_ALIASES[name])}); the file has: "
        f"{', '.join(map(str, frame.columns)) or 'no columns'}."
    )


def _label(value: object, row: int) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ProbeSetError(f"Row {row}: label {value!r} is not one of 1/0, true/false, T/F, same/different.")


def normalise(frame: pd.DataFrame, first_row: int = 2) -> pd.DataFrame:
    """Any accepted column naming -> `COLUMNS`, every row checked; errors name the row (`first_row` = the
    number of the first data row as the user sees it, 2 for a CSV with a header line)."""
    cols = {name: _column(frame, name) for name in COLUMNS}
    rows = []
    for number, record in enumerate(frame.to_dict("records"), start=first_row):
        word = str(record[cols["word"]] if pd.notna(record[cols["word"]]) else "").strip()
        contexts = [str(record[cols[c]]).strip() if pd.notna(record[cols[c]]) else "" for c in ("context1", "context2")]
        if not word or " " in word:
            raise ProbeSetError(f"Row {number}: the word must be one non-empty word, got {word!r}.")
        for name, text in zip(("context1", "context2"), contexts, strict=True):
            if not text:
                raise ProbeSetError(f"Row {number}: {name} is empty.")
            if len(text) > MAX_CONTEXT:
                raise ProbeSetError(f"Row {number}: {name} is longer than {MAX_CONTEXT} characters.")
        rows.append((word, contexts[0], contexts[1], _label(record[cols["same"]], number)))
    if not rows:
        raise ProbeSetError("The probe set has no rows.")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def parse_probe_csv(data: bytes) -> pd.DataFrame:
    """An uploaded CSV (header: word, context1, context2, label) as a checked probe set, at most
    `MAX_UPLOAD_BYTES` and `MAX_PAIRS` rows (each pair costs model passes for every SAE)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ProbeSetError(
            f"The file is {len(data) / 1e6:.1f} MB; probe sets are limited to {MAX_UPLOAD_BYTES // 10**6} MB."
        )
    columns = data.split(b"\n", 1)[0].count(b",") + 1  # its commas bound its columns: no parser runs yet
    if columns > MAX_COLUMNS:
        raise ProbeSetError(
            f"The header has {columns:,} columns; a probe set has {', '.join(COLUMNS)} (at most {MAX_COLUMNS})."
        )
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, csv.Error) as err:  # pandas parse errors and bad encodings are ValueErrors
        raise ProbeSetError(f"Not a readable CSV file: {first_line(err)}") from err
    if len(frame) > MAX_PAIRS:
        raise ProbeSetError(f"The file has {len(frame):,} pairs; probe sets are limited to {MAX_PAIRS:,}.")
    return normalise(frame)


def hub_probe_set(repo: str = PS_EVAL_REPO, revision: str | None = None) -> pd.DataFrame:
    """The PS-Eval word-in-context set from the Hub (through the HF cache), normalised."""
    folder = fetch_snapshot(
        Location("hub", repo=repo, revision=revision, repo_type="dataset"),
        ["*.csv", "*.parquet", "*.json", "*.jsonl"],
    )
    frames = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".csv":
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        elif path.suffix == ".parquet":
            frames.append(pd.read_parquet(path))
        elif path.suffix in (".json", ".jsonl"):
            frames.append(pd.read_json(path, lines=path.suffix == ".jsonl"))
    if not frames:
        raise ProbeSetError(f"hf://datasets/{repo} has no CSV, parquet or JSON file.")
    return normalise(pd.concat(frames, ignore_index=True))
