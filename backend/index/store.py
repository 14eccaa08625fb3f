"""The latent index on disk: Parquet files sorted by latent, one row group per block of latents.

Layout of an index folder:
- `meta.json`: format tag, version, what produced it (the key), token counts, and the manifest: the size
  and SHA-256 of every other file, checked once per reader before anything is shown;
- `latents.parquet`: one row per latent (statistics, histogram, logit lens, neighbours, label);
- `examples.parquet`: top and interval examples, (latent, kind, interval, rank) sorted;
- `tokens.npy`: the corpus contexts `[n_contexts, context_size]` the examples point into;
- `vocab.json`: each token id decoded on its own.
A reader keeps latents.parquet (a few megabytes; `LATENTS_PER_GROUP` latents a row group) in memory once a card
asks for a row, and reads one row group of examples.parquet per card (about 90 rows a latent, most of the index),
`examples_per_group` latents a group as meta.json says (indexes written before it say nothing and used
`LATENTS_PER_GROUP`).

A rewrite builds the new index in a sibling staging folder and swaps it in with two renames, so the old
index stays readable until the new one is complete; a crash between the renames is undone on the next
read or write (`recover`).
"""

import hashlib
import itertools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from backend.core.errors import StoreError, first_line
from backend.core.files import atomic_path, disk_full, file_digest, fsync_path, is_disk_full, write_json_atomic
from backend.index.state import INTERVAL_GROUP
from backend.index.store_checks import check_index_values, check_windows
from backend.sources.neuronpedia import EXPLANATIONS, cached_explanations

FORMAT = "sae-atlas-index"
VERSION = 1
LATENTS_PER_GROUP = 256
EXAMPLES_PER_GROUP = 32
"""A card decodes the examples of this many latents: 2.3 ms a card at SAE-9216 where 256 took 9.6 ms (measured on
the embedded default; the file grows 10%)."""
GROUP_KEY = "examples_per_group"
META, LATENTS, EXAMPLES, TOKENS, VOCAB = "meta.json", "latents.parquet", "examples.parquet", "tokens.npy", "vocab.json"
TABLE_COLUMNS = ["latent", "density", "max", "mean", "label"]
DATA_FILES = (LATENTS, EXAMPLES, TOKENS, VOCAB)
SEAL = "sha256"


def write_grouped_parquet(path: Path, table: pa.Table, d_sae: int, per_group: int) -> None:
    """Write `table` (sorted by `latent`) with one row group per `per_group` latents."""
    latents = table["latent"].to_numpy()
    bounds = np.searchsorted(latents, np.arange(0, d_sae + per_group, per_group))
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, table.schema) as writer:
        for lo, hi in itertools.pairwise(bounds):
            writer.write_table(table.slice(int(lo), int(hi - lo)))
        if len(bounds) < 2 or table.num_rows == 0:
            writer.write_table(table.slice(0, 0))


def _seal(meta: dict[str, Any]) -> str:
    """SHA-256 of the metadata itself (canonical JSON), so a changed count in meta.json is caught too."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of each data file of an index folder."""
    return {
        name: {"bytes": (folder / name).stat().st_size, "sha256": file_digest(folder / name)} for name in DATA_FILES
    }


def _staging(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.new")


def _retired(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old")


def recover(folder: Path) -> None:
    """Finish or undo a swap that a crash interrupted: the index is never left missing."""
    if not folder.exists() and _retired(folder).exists():
        os.replace(_retired(folder), folder)


@contextmanager
def _staged(folder: Path) -> Iterator[Path]:
    """An empty staging folder beside `folder`; removed again when writing it fails (a full disk raises DiskFull), so
    no half-written copy is left behind."""
    staging = _staging(folder)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        yield staging
    except Exception as err:
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(err):
            raise disk_full(folder.parent) from err
        raise


def write_index(
    folder: Path,
    meta: dict[str, Any],
    latents: pd.DataFrame,
    examples: pa.Table,
    tokens: np.ndarray,
    vocab: list[str],
) -> None:
    """Write a complete index into a staging folder (`meta.json` with the manifest last), then swap it in.
    `examples` come in the order a card reads them: by latent, kind, interval and rank (`finalize` makes them so).
    Imported labels (Neuronpedia) carry over; the old index is readable until the swap."""
    recover(folder)
    with _staged(folder) as staging:
        d_sae = int(meta["d_sae"])
        by_latent = pa.Table.from_pandas(latents.sort_values("latent"), preserve_index=False)
        write_grouped_parquet(staging / LATENTS, by_latent, d_sae, LATENTS_PER_GROUP)
        write_grouped_parquet(staging / EXAMPLES, examples, d_sae, EXAMPLES_PER_GROUP)
        with atomic_path(staging / TOKENS) as tmp, tmp.open("wb") as handle:
            np.save(handle, tokens.astype(np.int32))
        write_json_atomic(staging / VOCAB, vocab)
        if (folder / EXPLANATIONS).exists():
            shutil.copy2(folder / EXPLANATIONS, staging / EXPLANATIONS)
        manifested = {"format": FORMAT, "version": VERSION, **meta, GROUP_KEY: EXAMPLES_PER_GROUP}
        full = {**manifested, "manifest": manifest(staging)}
        write_json_atomic(staging / META, {**full, SEAL: _seal(full)})
    retired = _retired(folder)
    shutil.rmtree(retired, ignore_errors=True)
    if folder.exists():
        os.replace(folder, retired)
    os.replace(staging, folder)
    fsync_path(folder.parent)
    shutil.rmtree(retired, ignore_errors=True)


def _checked_meta(folder: Path) -> dict[str, Any]:
    """The index's metadata, after checking every data file against the manifest and every value's range."""
    meta = sealed_meta(folder)
    path = folder / META
    _verify(folder, meta.get("manifest"))
    if not isinstance(meta.get("d_sae"), int) or meta["d_sae"] <= 0:
        raise StoreError(f"{path} gives no valid d_sae; rebuild the index.")
    meta.setdefault(GROUP_KEY, LATENTS_PER_GROUP)
    if not isinstance(meta[GROUP_KEY], int) or isinstance(meta[GROUP_KEY], bool) or meta[GROUP_KEY] <= 0:
        raise StoreError(f"{path} gives no valid {GROUP_KEY}; rebuild the index.")
    _check_values(folder, meta)
    return meta


def sealed_meta(folder: Path) -> dict[str, Any]:
    """The index's metadata as written (its seal checked), its data files not read: what the index says it was made
    from, for an artifact keyed on that. `IndexReader.open` checks the files too."""
    recover(folder)
    path = folder / META
    if not path.exists():
        raise StoreError(f"No finished index in {folder}: build it with `python -m backend index`.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:
        raise StoreError(f"{path} is corrupt ({first_line(err)}); rebuild the index.") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(f"{folder} is not an SAE Atlas index (no {FORMAT!r} tag); refusing to read it.")
    if meta.get("version") != VERSION:
        raise StoreError(
            f"{folder} is index format version {meta.get('version')}, this app reads {VERSION}: rebuild it."
        )
    if meta.pop(SEAL, None) != _seal(meta):
        raise StoreError(f"{path} is corrupt (its checksum does not match); rebuild the index.")
    return meta


def _check_values(folder: Path, meta: dict[str, Any]) -> None:
    try:
        tokens = np.load(folder / TOKENS, mmap_mode="r")
        vocab = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        if not isinstance(vocab, list):
            raise StoreError(f"{folder / VOCAB} is not a list of tokens; rebuild the index.")
        files = pq.ParquetFile(folder / LATENTS), pq.ParquetFile(folder / EXAMPLES)
        groups = LATENTS_PER_GROUP, meta[GROUP_KEY]
        check_index_values(str(folder), meta, *files, tokens, len(vocab), groups)
    except (OSError, ValueError, TypeError, KeyError, RecursionError, pa.ArrowException) as err:
        raise StoreError(f"{folder} is unreadable ({first_line(err)}); rebuild the index.") from err


def _verify(folder: Path, listed: Any) -> None:
    if not isinstance(listed, dict) or set(listed) != set(DATA_FILES):
        raise StoreError(f"{folder} has no checksums (written by an older version); rebuild the index.")
    for name, expected in listed.items():
        path = folder / name
        if not path.exists():
            raise StoreError(f"{path} is missing; rebuild the index.")
        if not isinstance(expected, dict) or expected.get("bytes") != path.stat().st_size:
            raise StoreError(f"{path} has the wrong size (truncated or replaced); rebuild the index.")
        if expected.get("sha256") != file_digest(path):
            raise StoreError(f"{path} is corrupt (its checksum does not match); rebuild the index.")


@dataclass(frozen=True, eq=False)
class IndexReader:
    """Read access to one index folder, opened with `open`: the one place every file is checked (a reader is the
    proof that its folder was whole when opened). Data files open lazily."""

    folder: Path
    meta: dict[str, Any]
    """The index's metadata, checked."""
    width: int | None = None
    """Read as its first `width` latents: a prefix of a Matryoshka SAE, whose latent i is the same latent at every
    width, is served by the index of the whole dictionary. None: every latent."""
    _reading: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """One read of the Parquet files at a time: the app shares a reader between sessions, and a ParquetFile read
    from two threads at once fails ("ReadRangeCache did not find matching cache entry")."""

    @classmethod
    def open(cls, folder: Path, width: int | None = None) -> "IndexReader":
        """Check every data file against the seal and manifest and every value against its range, then read.
        StoreError (saying how to rebuild) when the folder is missing, not an index, altered or corrupt, or has
        fewer than `width` latents."""
        meta = _checked_meta(folder)
        if width is not None and not 0 < width <= int(meta["d_sae"]):
            raise StoreError(f"{folder} indexes {meta['d_sae']} latents, not the {width} of this prefix; rebuild it.")
        return cls(folder, meta, width)

    def _parquet(self, name: str) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.folder / name)
        except (OSError, pa.ArrowInvalid) as err:
            raise StoreError(f"{self.folder / name} is unreadable ({first_line(err)}); rebuild the index.") from err

    @cached_property
    def _latents_file(self) -> pq.ParquetFile:
        return self._parquet(LATENTS)

    @cached_property
    def _examples_file(self) -> pq.ParquetFile:
        return self._parquet(EXAMPLES)

    def _read(self, handle: pq.ParquetFile, columns: list[str]) -> pd.DataFrame:
        try:
            with self._reading:
                table = handle.read(columns=columns)
            return table.to_pandas()
        except (OSError, pa.ArrowException, KeyError) as err:
            raise StoreError(f"{self.folder} is unreadable ({first_line(err)}); rebuild the index.") from err

    @property
    def d_sae(self) -> int:
        return self.width or int(self.meta["d_sae"])

    def _first(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of this reader's latents (every row when it reads them all)."""
        if self.width is None:
            return frame
        return frame[frame["latent"] < self.width] if "latent" in frame else frame.iloc[: self.width]

    def _in_range(self, latent: int) -> None:
        if not 0 <= latent < self.d_sae:
            raise StoreError(f"Latent {latent} is out of range: this SAE has latents 0 to {self.d_sae - 1}.")

    def _rows(self, handle: pq.ParquetFile, latent: int, per_group: int) -> pa.Table:
        """The latent's rows of a file, from its one row group (filtered before any conversion: a card's read)."""
        self._in_range(latent)
        try:
            with self._reading:
                group = handle.read_row_group(latent // per_group)
            return group.filter(pc.equal(group["latent"], latent))
        except (OSError, pa.ArrowException, IndexError) as err:
            raise StoreError(f"{self.folder} is unreadable ({first_line(err)}); rebuild the index.") from err

    @cached_property
    def explanations(self) -> dict[int, str]:
        """Labels imported from Neuronpedia (backend/sources/neuronpedia.py); they replace the automatic ones."""
        return cached_explanations(self.folder)

    @cached_property
    def _latents(self) -> pa.Table:
        """Every latent's row, read once: a card's row is then a slice, not a row group of lists decoded per card."""
        try:
            with self._reading:
                return self._latents_file.read()
        except (OSError, pa.ArrowException) as err:
            raise StoreError(f"{self.folder} is unreadable ({first_line(err)}); rebuild the index.") from err

    def latent_row(self, latent: int) -> dict[str, Any]:
        self._in_range(latent)
        rows = self._latents.slice(latent, 1).to_pylist()
        if not rows or rows[0]["latent"] != latent:  # rows are written in latent order, one per latent
            raise StoreError(f"The index has no row for latent {latent}; rebuild it.")
        row: dict[str, Any] = rows[0]
        if self.width is not None:  # neighbours within the prefix: the nearest of the whole list, in order
            kept = [n for n, other in enumerate(row["nn_latent"]) if other < self.width]
            row["nn_latent"], row["nn_cos"] = [row["nn_latent"][n] for n in kept], [row["nn_cos"][n] for n in kept]
        row["auto_label"] = row["label"]
        row["label"] = self.explanations.get(latent, row["label"])
        return row

    def examples(self, latent: int) -> pa.Table:
        """The latent's example rows (kind, interval, rank, token, value, window), as Arrow: a card reads them as
        numpy columns, and pandas would cost more than the rows."""
        rows = self._rows(self._examples_file, latent, int(self.meta[GROUP_KEY]))
        check_windows(str(self.folder), rows["window"])
        return rows

    def table(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All latents, only the named columns (default: id, density, max, mean, label)."""
        table = self._first(self._read(self._latents_file, columns or TABLE_COLUMNS))
        if "label" in table and self.explanations:
            imported = table["latent"].map(self.explanations) if "latent" in table else None
            if imported is None:
                imported = table.index.to_series().map(self.explanations)
            table["label"] = imported.fillna(table["label"]).to_numpy()
        return table

    def top_example_tokens(self, per_latent: int) -> pd.DataFrame:
        """Columns latent, token, previous, next: the vocabulary ids at and beside each of every latent's
        `per_latent` strongest examples (the store keeps an example's flat position in `tokens`, not its id);
        -1 where the example opens or closes its context."""
        frame = self._first(self._read(self._examples_file, ["latent", "kind", "rank", "token"]))
        top = frame[(frame["kind"] == "top") & (frame["rank"] < per_latent)]
        flat, width = self.tokens.reshape(-1), self.tokens.shape[1]
        where = top["token"].to_numpy()
        column = where % width
        previous = np.where(column > 0, flat[np.maximum(where - 1, 0)], -1)
        following = np.where(column < width - 1, flat[np.minimum(where + 1, len(flat) - 1)], -1)
        return pd.DataFrame(
            {
                "latent": top["latent"].to_numpy(),
                "token": flat[where].astype(np.int64),
                "previous": previous.astype(np.int64),
                "next": following.astype(np.int64),
            }
        )

    def interval_samples(self) -> pd.DataFrame:
        """Columns latent, token (flat position in `tokens`), weight: every interval example, weighted by how many
        tokens of the index it stands for (its interval's count over the examples kept from it), so weighted
        shares of them estimate shares of the latent's firing."""
        frame = self._first(self._read(self._examples_file, ["latent", "kind", "interval", "token"]))
        sampled = frame[frame["kind"] == "interval"]
        hist = self._read(self._latents_file, ["latent", "hist_bins", "hist_counts"]).explode(
            ["hist_bins", "hist_counts"]
        )
        hist = hist.dropna().astype({"hist_bins": np.int64, "hist_counts": np.int64})
        hist["interval"] = hist["hist_bins"] // INTERVAL_GROUP
        counts = hist.groupby(["latent", "interval"])["hist_counts"].sum().rename("tokens")
        kept = sampled.groupby(["latent", "interval"]).size().rename("kept")
        weights = (counts / kept).rename("weight").reset_index()
        merged = sampled.merge(weights, on=["latent", "interval"], how="left")
        return merged[["latent", "token", "weight"]].fillna({"weight": 0.0}).reset_index(drop=True)

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
            return list(json.loads((self.folder / VOCAB).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as err:
            raise StoreError(f"{self.folder / VOCAB} is unreadable ({err}); rebuild the index.") from err
