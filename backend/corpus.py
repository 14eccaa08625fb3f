"""Text corpora cut into fixed-length token contexts that start with BOS.

Offline: WordNet 3.0 glosses and example sentences (Debian `wordnet-base`), each entry written as
"lemma: gloss". Online: the text column of a Hub dataset's parquet files.
"""

import random
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from backend.catalog import CorpusSpec
from backend.errors import AtlasError, MissingDependency
from backend.hub import Location, fetch_snapshot

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
WORDNET_INSTALL = "sudo apt-get install wordnet-base"


def parse_wordnet_line(line: str) -> str | None:
    """One `data.*` line -> "lemma: gloss", or None for the licence header (two leading spaces)."""
    if line.startswith("  ") or " | " not in line:
        return None
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    lemma = fields[4].replace("_", " ") if len(fields) > 4 else ""
    lemma = lemma.split("(")[0]  # adjective markers such as "(a)" are not words
    return f"{lemma}: {gloss.strip()}"


def wordnet_texts(folder: Path = WORDNET_DIR) -> list[str]:
    """Every synset of WordNet as one text, in file order."""
    paths = [folder / name for name in WORDNET_FILES]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise MissingDependency(f"WordNet data is missing ({', '.join(missing)}): run `{WORDNET_INSTALL}`.")
    texts: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as handle:
            texts.extend(text for line in handle if (text := parse_wordnet_line(line)))
    return texts


def wordnet_proper_nouns(folder: Path = WORDNET_DIR) -> frozenset[str]:
    """Capitalised alphabetic last words of WordNet's noun lemmas: names of people, places, peoples and
    languages ("Einstein", "Lincoln", "Germany", "French"), not sentence-initial capitals ("The")."""
    path = folder / "data.noun"
    if not path.exists():
        raise MissingDependency(f"WordNet data is missing ({path}): run `{WORDNET_INSTALL}`.")
    names: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("  "):
                continue
            fields = line.split(" | ", 1)[0].split()
            words = fields[4 : 4 + 2 * int(fields[3], 16) : 2] if len(fields) > 4 else []
            for lemma in words:
                # The last word of a lemma: "Albert_Einstein" -> Einstein, "The_Hague" -> Hague (not "The").
                word = lemma.replace("-", "_").split("_")[-1]
                if len(word) >= 3 and word.isalpha() and word[0].isupper() and not word.isupper():
                    names.add(word)
    return frozenset(names)


def hub_texts(spec: CorpusSpec, max_texts: int) -> list[str]:
    """The `spec.column` texts of a Hub dataset's parquet shards (downloaded through the HF cache)."""
    folder = fetch_snapshot(
        Location("hub", repo=spec.repo, revision=spec.revision, repo_type="dataset"), list(spec.patterns)
    )
    texts: list[str] = []
    for path in sorted(folder.rglob("*.parquet")):
        table = pq.read_table(path, columns=[spec.column])
        texts.extend(str(t) for t in table.column(spec.column).to_pylist() if t)
        if len(texts) >= max_texts:
            break
    if not texts:
        raise AtlasError(f"hf://datasets/{spec.repo} has no parquet file with a {spec.column!r} column.")
    return texts[:max_texts]


def corpus_texts(spec: CorpusSpec, max_texts: int = 200_000) -> list[str]:
    if spec.kind == "wordnet":
        return wordnet_texts()
    return hub_texts(spec, max_texts)


def pack_contexts(
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    bos_id: int,
    context_size: int,
    n_contexts: int,
    seed: int = 0,
) -> Tensor:
    """Shuffle `texts` (seeded), join them with newlines and cut into `[n_contexts, context_size]`
    token ids, each row BOS followed by `context_size - 1` corpus tokens. Fewer rows if the corpus runs out."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    body = context_size - 1
    needed = n_contexts * body
    stream: list[int] = []
    chunk = 2000
    for start in range(0, len(order), chunk):
        batch = ["\n" + texts[i] for i in order[start : start + chunk]]
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
        if len(stream) >= needed:
            break
    rows = min(n_contexts, len(stream) // body)
    if rows == 0:
        raise AtlasError(f"The corpus is too small for one context of {context_size} tokens.")
    body_ids = torch.tensor(stream[: rows * body], dtype=torch.long).view(rows, body)
    return torch.cat([torch.full((rows, 1), bos_id, dtype=torch.long), body_ids], dim=1)
