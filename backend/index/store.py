"""The latent index on disk: Parquet files sorted by latent, one row group per block of latents.

Layout of an index folder:
- `meta.json`: format tag, version, what produced it (the key), token counts;
- `latents.parquet`: one row per latent (statistics, histogram, logit lens, neighbours, label);
- `examples.parquet`: top and interval examples, (latent, kind, interval, rank) sorted;
- `tokens.npy`: the corpus contexts `[n_contexts, context_size]` the examples point into;
- `vocab.json`: each token id decoded on its own.
A card reads one row group of each Parquet file, never the whole index.
"""

import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend.core.errors import StoreError
from backend.core.files import atomic_path, write_json_atomic
from backend.sources.neuronpedia import cached_explanations

FORMAT = "sae-atlas-index"
VERSION = 1
LATENTS_PER_GROUP = 256
META, LATENTS, EXAMPLES, TOKENS, VOCAB = "meta.json", "latents.parquet", "examples.parquet", "tokens.npy", "vocab.json"
TABLE_COLUMNS = ["latent", "density", "max", "mean", "label"]


def write_grouped_parquet(path: Path, frame: pd.DataFrame, d_sae: int) -> None:
    """Write `frame` (sorted by `latent`) with one row group per `LATENTS_PER_GROUP` latents."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    latents = frame["latent"].to_numpy()
    bounds = np.searchsorted(latents, np.arange(0, d_sae + LATENTS_PER_GROUP, LATENTS_PER_GROUP))
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, table.schema) as writer:
        for lo, hi in itertools.pairwise(bounds):
            writer.write_table(table.slice(int(lo), int(hi - lo)))
        if len(bounds) < 2 or table.num_rows == 0:
            writer.write_table(table.slice(0, 0))


def write_index(
    folder: Path,
    meta: dict[str, Any],
    latents: pd.DataFrame,
    examples: pd.DataFrame,
    tokens: np.ndarray,
    vocab: list[str],
) -> None:
    """Write a complete index; `meta.json` goes last, so a folder without it is unfinished."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).unlink(missing_ok=True)
    d_sae = int(meta["d_sae"])
    write_grouped_parquet(folder / LATENTS, latents.sort_values("latent"), d_sae)
    write_grouped_parquet(folder / EXAMPLES, examples.sort_values(["latent", "kind", "interval", "rank"]), d_sae)
    with atomic_path(folder / TOKENS) as tmp, tmp.open("wb") as handle:
        np.save(handle, tokens.astype(np.int32))
    write_json_atomic(folder / VOCAB, vocab)
    write_json_atomic(folder / META, {"format": FORMAT, "version": VERSION, **meta})


@dataclass
class IndexReader:
    """Read access to one index folder. Cheap to create; files open lazily."""

    folder: Path

    @cached_property
    def meta(self) -> dict[str, Any]:
        path = self.folder / META
        if not path.exists():
            raise StoreError(f"No finished index in {self.folder}: build it with `python -m backend index`.")
        try:
            meta = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise StoreError(f"{path} is corrupt ({err}); delete the folder and build the index again.") from err
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise StoreError(f"{self.folder} is not an SAE Atlas index (no {FORMAT!r} tag); refusing to read it.")
        if meta.get("version") != VERSION:
            raise StoreError(
                f"{self.folder} is index format version {meta.get('version')}, this app reads {VERSION}: rebuild it."
            )
        return meta

    def _parquet(self, name: str) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.folder / name)
        except (OSError, pa.ArrowInvalid) as err:
            raise StoreError(f"{self.folder / name} is unreadable ({err}); rebuild the index.") from err

    @cached_property
    def _latents_file(self) -> pq.ParquetFile:
        return self._parquet(LATENTS)

    @cached_property
    def _examples_file(self) -> pq.ParquetFile:
        return self._parquet(EXAMPLES)

    @property
    def d_sae(self) -> int:
        return int(self.meta["d_sae"])

    def _rows(self, handle: pq.ParquetFile, latent: int) -> pd.DataFrame:
        if not 0 <= latent < self.d_sae:
            raise StoreError(f"Latent {latent} is out of range: this SAE has latents 0 to {self.d_sae - 1}.")
        frame = handle.read_row_group(latent // LATENTS_PER_GROUP).to_pandas()
        return frame[frame["latent"] == latent]

    @cached_property
    def explanations(self) -> dict[int, str]:
        """Labels imported from Neuronpedia (backend/neuronpedia.py); they replace the automatic ones."""
        return cached_explanations(self.folder)

    def latent_row(self, latent: int) -> dict[str, Any]:
        rows = self._rows(self._latents_file, latent)
        if rows.empty:
            raise StoreError(f"The index has no row for latent {latent}; rebuild it.")
        row = dict(rows.iloc[0])
        row["auto_label"] = row["label"]
        row["label"] = self.explanations.get(latent, row["label"])
        return row

    def examples(self, latent: int) -> pd.DataFrame:
        return self._rows(self._examples_file, latent).reset_index(drop=True)

    def table(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All latents, only the named columns (default: id, density, max, mean, label)."""
        table = self._latents_file.read(columns=columns or TABLE_COLUMNS).to_pandas()
        if "label" in table and self.explanations:
            imported = table["latent"].map(self.explanations) if "latent" in table else None
            if imported is None:
                imported = table.index.to_series().map(self.explanations)
            table["label"] = imported.fillna(table["label"]).to_numpy()
        return table

    def top_example_tokens(self, per_latent: int) -> pd.DataFrame:
        """Columns latent, token: the vocabulary id at each of every latent's `per_latent` strongest
        examples (the store keeps an example's flat position in `tokens`, not its id)."""
        frame = self._examples_file.read(columns=["latent", "kind", "rank", "token"]).to_pandas()
        top = frame[(frame["kind"] == "top") & (frame["rank"] < per_latent)]
        ids = self.tokens.reshape(-1)[top["token"].to_numpy()]
        return pd.DataFrame({"latent": top["latent"].to_numpy(), "token": ids.astype(np.int64)})

    @cached_property
    def tokens(self) -> np.ndarray:
        """`[n_contexts, context_size]` token ids, memory-mapped."""
        try:
            return np.load(self.folder / TOKENS, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise StoreError(f"{self.folder / TOKENS} is unreadable ({err}); rebuild the index.") from err

    @cached_property
    def vocab(self) -> list[str]:
        try:
            return list(json.loads((self.folder / VOCAB).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise StoreError(f"{self.folder / VOCAB} is unreadable ({err}); rebuild the index.") from err
