"""Facets against planted ground truth: a latent firing in two known kinds of context."""

import numpy as np
import pandas as pd
import pytest
import torch

from backend.lenses.facets import WINDOW, context_vectors, facet_table


def test_a_latent_firing_in_two_planted_contexts_has_two_facets_with_their_shares() -> None:
    draw = np.random.default_rng(0)
    u, v = np.eye(32)[0], np.eye(32)[1]
    vectors = np.concatenate([u + 0.05 * draw.standard_normal((20, 32)), v + 0.05 * draw.standard_normal((10, 32))])
    one = 0.7 * u + 0.05 * draw.standard_normal((12, 32))
    samples = pd.DataFrame({"latent": [0] * 30 + [1] * 12, "weight": [1.0] * 42})
    tokens = [" river"] * 20 + [" bank"] * 10 + [" cat"] * 12
    table = facet_table(samples, np.concatenate([vectors, one]), tokens)
    two = table[table["latent"] == 0]
    assert two["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert two["label"].tolist() == ["river", "bank"]
    assert table[table["latent"] == 1]["share"].tolist() == [1.0]


def test_shares_weigh_each_example_by_the_tokens_it_stands_for() -> None:
    u, v = np.eye(8)[0], np.eye(8)[1]
    samples = pd.DataFrame({"latent": [3] * 12, "weight": [1.0] * 6 + [3.0] * 6})
    table = facet_table(samples, np.stack([u] * 6 + [v] * 6) + 0.01, [" a"] * 6 + [" b"] * 6)
    assert table["share"].tolist() == pytest.approx([0.75, 0.25])


def test_context_vectors_average_the_window_without_bos() -> None:
    acts = torch.arange(2 * 12, dtype=torch.float32).reshape(2, 12, 1).repeat(1, 1, 2).half()
    found = context_vectors(acts, np.array([2, 12 + 11]))
    raw = np.array([(1 + 2) / 2, np.mean(np.arange(12 + 11 - WINDOW + 1, 12 + 12))])
    assert found[:, 0] == pytest.approx(raw - raw.mean())
