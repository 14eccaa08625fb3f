"""Text corpora cut into fixed-length token contexts that start with BOS.

Offline: WordNet 3.0 glosses and example sentences (Debian `wordnet-base`), each entry written as
"lemma: gloss", or local `.txt` / `.jsonl` / `.parquet` files. Online: the text column of a Hub dataset's
parquet files.
"""

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import torch
from torch import Tensor

from backend.core.errors import AtlasError, first_line
from backend.data.wordnet import WORDNET_DIR, Synset, read_synsets
from backend.sources.hub import Location, fetch_snapshot
from backend.sources.release import CORPUS_SUFFIXES, CorpusSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def wordnet_text(synset: Synset) -> str:
    """A synset as one corpus text: "lemma: gloss" (its first lemma, without adjective markers)."""
    lemma = synset.words[0].replace("_", " ").split("(")[0] if synset.words else ""
    return f"{lemma}: {synset.gloss.strip()}"


def wordnet_texts(folder: Path = WORDNET_DIR) -> list[str]:
    """Every synset of WordNet as one text, in file order."""
    return [wordnet_text(synset) for _, synset in read_synsets(folder)]


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


def _file_texts(path: Path, column: str) -> list[str]:
    """The texts of one local file: non-empty lines of `.txt`, the `column` of `.jsonl` rows or `.parquet`."""
    if path.suffix == ".txt":
        return [
            line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as err:
            raise AtlasError(f"{path} is not a readable Parquet file ({first_line(err)}).") from err
        if column not in table.column_names:
            raise AtlasError(
                f"{path} has no {column!r} column (it has {', '.join(table.column_names)}); name it with --column."
            )
        return [str(t) for t in table.column(column).to_pylist() if t]
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise AtlasError(f"{path} line {number} is not JSON ({first_line(err)}).") from err
        if not isinstance(row, dict) or column not in row:
            raise AtlasError(f"{path} line {number} has no {column!r} field; name the text field with --column.")
        if row[column]:
            texts.append(str(row[column]))
    return texts


def local_texts(spec: CorpusSpec, max_texts: int) -> list[str]:
    """The texts of a local file, or of every `.txt`, `.jsonl` and `.parquet` file of a folder (sorted)."""
    root = Path(spec.path).expanduser()
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix in CORPUS_SUFFIXES and p.is_file())
    elif root.is_file() and root.suffix in CORPUS_SUFFIXES:
        files = [root]
    else:
        raise AtlasError(f"No corpus at {root}: give a .txt, .jsonl or .parquet file, or a folder of them.")
    texts: list[str] = []
    for path in files:
        texts.extend(_file_texts(path, spec.column))
        if len(texts) >= max_texts:
            break
    if not texts:
        raise AtlasError(f"The corpus at {root} holds no text.")
    return texts[:max_texts]


def corpus_texts(spec: CorpusSpec, max_texts: int = 200_000) -> list[str]:
    if spec.kind == "wordnet":
        return wordnet_texts()
    if spec.kind == "local":
        return local_texts(spec, max_texts)
    return hub_texts(spec, max_texts)


def pack_contexts(
    texts: list[str],
    tokenizer: "PreTrainedTokenizerBase",
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
