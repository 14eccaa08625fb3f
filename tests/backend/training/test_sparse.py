"""The trainer's sparse kernels (backend/training/sparse.py): the row pointers from a binary search are the counts'
running sums, a masked decode is the boolean selection's, and neither makes a GPU's host wait more than it must."""

from collections import Counter
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from backend.training.sparse import decode_where, row_starts, sparse_decode


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=40), st.integers(10, 14))
def test_row_starts_are_the_running_sums_of_the_row_counts(rows: list[int], n_rows: int) -> None:
    sorted_rows = torch.tensor(sorted(rows), dtype=torch.long)
    counts = torch.bincount(sorted_rows, minlength=n_rows)
    expected = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    assert torch.equal(row_starts(sorted_rows, n_rows), expected)


def test_a_masked_decode_is_the_boolean_selections_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(0)
    dec = torch.randn(32, 6, generator=gen)
    rows, cols = torch.randint(0, 5, (50,), generator=gen).sort().values, torch.randint(0, 32, (50,), generator=gen)
    vals = torch.rand(50, generator=gen)
    mask = cols < 12
    expected = sparse_decode(dec, rows[mask], cols[mask], vals[mask], 5)
    assert torch.equal(decode_where(dec, rows, cols, vals, mask, 5), expected)


class Waits(TorchDispatchMode):
    """Counts the operations that make a GPU's host wait (a value read back, a data-dependent output size)."""

    SYNCING = frozenset({"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.bincount.default",
                         "aten._unique2.default"})  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        masked = str(func) == "aten.index.Tensor" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] or ()
        )
        if str(func) in self.SYNCING or masked:
            self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def test_a_masked_decode_waits_once_where_the_boolean_selection_waits_three_times() -> None:
    dec, rows, cols, vals = torch.randn(8, 3), torch.arange(6) // 2, torch.arange(6), torch.rand(6)
    with Waits() as waits:
        decode_where(dec, rows, cols, vals, cols < 4, 3)
    assert sum(waits.counts.values()) == 1
