"""Word-in-context probe sets: pairs (word, context1, context2, same meaning or not).

Offline: built from WordNet's sense-labelled example sentences (two examples of one synset = same
meaning, examples of two synsets of the word = different), balanced and deterministic. Online: the
WiC-based PS-Eval set on the Hub. Users can upload a CSV with the same columns.
"""

import csv
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from backend.core.errors import AtlasError, MissingDependency, first_line
from backend.data.corpus import WORDNET_DIR, WORDNET_FILES, WORDNET_INSTALL
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


class ProbeSetError(AtlasError):
    """A probe set that cannot be read; the message names the bad row or column."""


@dataclass(frozen=True)
class _Example:
    word: str
    synset: str
    text: str


def _synset_examples(line: str) -> list[_Example]:
    """Every (single-word lemma, example sentence containing it) of one `data.*` line."""
    if line.startswith("  ") or " | " not in line:
        return []
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    n_words = int(fields[3], 16)
    lemmas = {re.sub(r"\(.*\)$", "", w).lower() for w in fields[4 : 4 + 2 * n_words : 2]}
    found = []
    for text in re.findall(r'"([^"]{10,300})"', gloss):
        for lemma in sorted(lemmas):
            if lemma.isalpha() and re.search(rf"\b{re.escape(lemma)}\b", text, flags=re.IGNORECASE):
                found.append(_Example(lemma, f"{fields[2]}{fields[0]}", text.strip()))
    return found


def _senses(folder: Path) -> dict[str, dict[str, list[str]]]:
    """word -> synset -> example sentences containing the word."""
    paths = [folder / name for name in WORDNET_FILES]
    if not all(p.exists() for p in paths):
        raise MissingDependency(f"WordNet data is missing from {folder}: run `{WORDNET_INSTALL}`.")
    senses: dict[str, dict[str, list[str]]] = {}
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                for ex in _synset_examples(line):
                    senses.setdefault(ex.word, {}).setdefault(ex.synset, []).append(ex.text)
    return senses


def wordnet_probe_set(max_pairs: int = 400, seed: int = 0, folder: Path = WORDNET_DIR) -> pd.DataFrame:
    """Balanced same/different-sense pairs of polysemous WordNet words, at most one of each kind per word.

    Deterministic: words and senses are visited in sorted order and sampled with `seed`."""
    rng = random.Random(seed)
    same, different = [], []
    for word, by_synset in sorted(_senses(folder).items()):
        if len(by_synset) < 2:
            continue
        synsets = sorted(by_synset)
        multi = [s for s in synsets if len(by_synset[s]) >= 2]
        if multi:
            pair = rng.sample(by_synset[rng.choice(multi)], 2)
            same.append((word, pair[0], pair[1], True))
        a, b = rng.sample(synsets, 2)
        different.append((word, rng.choice(by_synset[a]), rng.choice(by_synset[b]), False))
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
