"""The stored values of an index checked against what they point into, once per reader.

A published index is outside data: its checksums only say the files are the ones its `meta.json` names, not
that a crafted `meta.json` and files agree. Every number a card uses as a position or an id is checked here
(example positions inside `tokens`, token ids inside the vocabulary, neighbour ids and histogram bins inside
their ranges, rows in latent order within their row groups, list columns of matching lengths, example windows
per card), so a crafted
index is a `StoreError`, never an IndexError or a card silently showing other data.
"""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from backend.core.errors import StoreError
from backend.index.state import N_BINS, N_INTERVALS, WINDOW

EXAMPLE_KINDS = ("top", "interval")


class _Check:
    def __init__(self, where: str) -> None:
        self.where = where

    def that(self, holds: bool, what: str) -> None:
        if not holds:
            raise StoreError(f"{self.where}: {what}; the index was altered or written wrongly: rebuild it.")

    def within(self, values: pa.Array | pa.ChunkedArray, low: int, high: int, what: str) -> None:
        """Every value in [low, high)."""
        if len(values) == 0:
            return
        bounds = pc.min_max(values)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        self.that(lo is not None and lo >= low and hi < high, f"{what} lie outside {low}..{high - 1}")

    def same_lengths(self, table: pa.Table, first: str, second: str) -> None:
        a, b = pc.list_value_length(table[first]), pc.list_value_length(table[second])
        self.that(pc.all(pc.equal(a, b)).as_py() is not False, f"{first} and {second} differ in length")

    def grouped(self, handle: pq.ParquetFile, latent: pa.ChunkedArray, per_group: int, what: str) -> None:
        """Rows sorted by latent, each in the row group a card reads for it (latent // per_group)."""
        values = latent.to_numpy()
        self.that(bool(np.all(np.diff(values) >= 0)), f"{what} rows are not in latent order")
        sizes = [handle.metadata.row_group(g).num_rows for g in range(handle.num_row_groups)]
        group = np.repeat(np.arange(len(sizes)), sizes)
        self.that(len(group) == len(values), f"{what} row groups do not cover its rows")
        self.that(bool(np.all(values // per_group == group)), f"{what} rows sit in the wrong row groups")


def check_index_values(
    where: str,
    meta: dict[str, Any],
    latents: pq.ParquetFile,
    examples: pq.ParquetFile,
    tokens: np.ndarray,
    vocab_size: int,
    per_group: tuple[int, int],
) -> None:
    """Refuse an index whose values do not fit the arrays they index (see the module docstring); `per_group`: the
    latents per row group of latents.parquet and of examples.parquet."""
    check = _Check(where)
    d_sae, seq = meta["d_sae"], meta.get("context_size")
    check.that(isinstance(seq, int) and seq > 0, "context_size is not a positive whole number")
    check.that(tokens.ndim == 2 and tokens.shape[1] == seq, f"tokens are not [contexts, {seq}]")
    check.that(meta.get("n_contexts") == tokens.shape[0], "n_contexts does not match the tokens")
    check.that(np.issubdtype(tokens.dtype, np.integer), "tokens are not whole numbers")
    if tokens.size:
        check.that(int(tokens.min()) >= 0 and int(tokens.max()) < vocab_size, "token ids lie outside the vocabulary")

    rows = latents.read(columns=["latent", "hist_bins", "hist_counts", "nn_latent", "nn_cos", *_lens_columns(latents)])
    check.that(rows.num_rows == d_sae, f"latents.parquet has {rows.num_rows} rows for {d_sae} latents")
    check.that(
        pc.all(pc.equal(rows["latent"], pa.array(np.arange(d_sae)))).as_py() is not False,
        "latent ids are not 0..d_sae-1",
    )
    check.grouped(latents, rows["latent"], per_group[0], "latents.parquet")
    check.same_lengths(rows, "hist_bins", "hist_counts")
    check.within(pc.list_flatten(rows["hist_bins"]), 0, N_BINS, "histogram bins")
    check.same_lengths(rows, "nn_latent", "nn_cos")
    check.within(pc.list_flatten(rows["nn_latent"]), 0, d_sae, "neighbour ids")
    for sign in ("pos", "neg"):
        if f"lens_{sign}_idx" in rows.column_names:
            check.same_lengths(rows, f"lens_{sign}_idx", f"lens_{sign}_val")
            check.within(pc.list_flatten(rows[f"lens_{sign}_idx"]), 0, vocab_size, "logit-lens token ids")

    found = examples.read(columns=["latent", "kind", "interval", "rank", "token"])
    check.within(found["latent"], 0, d_sae, "example latents")
    check.grouped(examples, found["latent"], per_group[1], "examples.parquet")
    check.that(
        pc.all(pc.is_in(found["kind"], pa.array(EXAMPLE_KINDS))).as_py() is not False, "example kinds are unknown"
    )
    check.within(found["interval"], -1, N_INTERVALS, "example intervals")
    check.within(found["rank"], 0, 1 << 20, "example ranks")
    check.within(found["token"], 0, tokens.size, "example positions")


def check_windows(where: str, windows: pa.ChunkedArray) -> None:
    """Each example's activation window is WINDOW long (checked per card: the column is most of the file)."""
    full = pc.all(pc.equal(pc.list_value_length(windows), WINDOW), skip_nulls=False).as_py()
    _Check(where).that(len(windows) == 0 or full is True, f"example windows are not {WINDOW} long")


def _lens_columns(latents: pq.ParquetFile) -> list[str]:
    names = latents.schema_arrow.names
    return [c for sign in ("pos", "neg") for c in (f"lens_{sign}_idx", f"lens_{sign}_val") if c in names]
