"""Splits against planted ground truth: children that partition their parent, leave a hole, or overlap."""

import numpy as np
import pytest
import torch
from scipy.sparse import csc_matrix

from backend.lenses.cofiring import edge_table
from backend.stitching.matching import Matching


def fires(columns: list[range], n_tokens: int = 200) -> csc_matrix:
    rows = np.concatenate([np.fromiter(r, dtype=np.int64) for r in columns])
    cols = np.concatenate([np.full(len(r), i) for i, r in enumerate(columns)])
    return csc_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_tokens, len(columns)))


def one_parent(children: int) -> Matching:
    empty = torch.zeros(1, dtype=torch.long)
    return Matching(
        small_best=empty, small_cos=torch.ones(1), large_best=torch.zeros(children, dtype=torch.long),
        large_cos=torch.ones(children), edge_small=torch.zeros(children, dtype=torch.long),
        edge_large=torch.arange(children), edge_cos=torch.full((children,), 0.8), floor=0.5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("children", "verdict", "coverage"),
    [
        ([range(0, 50), range(50, 100)], "partition", 1.0),
        ([range(0, 50), range(50, 70)], "hole", 0.7),
        ([range(0, 70), range(30, 100)], "overlap", 1.0),
    ],
)
def test_the_planted_split_gets_its_verdict(children: list[range], verdict: str, coverage: float) -> None:
    table = edge_table(one_parent(len(children)), fires([range(0, 100)]), fires(children))
    assert table["verdict"].tolist() == [verdict] * len(children)
    assert table["coverage"].iloc[0] == pytest.approx(coverage)
    first = table.iloc[0]
    assert first["p_child_given_parent"] == pytest.approx(len(children[0]) / 100)
    assert first["p_parent_given_child"] == 1.0


def test_a_parent_with_one_child_has_no_verdict_and_dead_ends_are_dropped() -> None:
    matching = one_parent(2)
    matching.dead_large = torch.tensor([False, True])
    table = edge_table(matching, fires([range(0, 100)]), fires([range(0, 50), range(50, 100)]))
    assert table["child"].tolist() == [0]
    assert table["verdict"].isna().all()
