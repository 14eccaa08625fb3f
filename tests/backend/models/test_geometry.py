import pytest
import torch

import backend.models.geometry as geometry
from backend.models.geometry import logit_lens, nearest_rows


@pytest.fixture(params=[torch.float32, torch.bfloat16], ids=["float32", "bfloat16 candidates"])
def candidates(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> torch.dtype:
    """Both ways the products are taken: float32 throughout, or bfloat16 candidates rescored in float32."""
    monkeypatch.setattr(geometry, "candidate_dtype", lambda _device: request.param)
    return request.param


def test_nearest_rows_are_the_exact_float32_neighbours(candidates: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    queries, keys = torch.randn(300, 24, generator=gen), torch.randn(500, 24, generator=gen) * 3
    idx, cos = nearest_rows(queries, keys, 5, chunk=128)
    exact = geometry.unit_rows(queries) @ geometry.unit_rows(keys).T
    top = exact.topk(5, dim=1)
    assert torch.equal(idx, top.indices)
    assert cos.dtype == torch.float32 and torch.allclose(cos, top.values, atol=1e-6)


def test_a_row_is_never_its_own_neighbour(candidates: torch.dtype) -> None:
    rows = torch.randn(200, 16, generator=torch.Generator().manual_seed(1))
    rows[7] = rows[3] * 2  # a parallel pair: each other's nearest, at cosine 1
    idx, cos = nearest_rows(rows, rows, 4, exclude_self=True, chunk=64)
    assert not (idx == torch.arange(200).unsqueeze(1)).any()
    assert idx[3, 0] == 7 and idx[7, 0] == 3 and cos[3, 0] == pytest.approx(1.0, abs=1e-6)


def test_logit_lens_is_the_exact_top_and_bottom(candidates: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(2)
    decoder, unembed = torch.randn(90, 32, generator=gen), torch.randn(1000, 32, generator=gen)
    lens = logit_lens(decoder, unembed, n=6, chunk=40)
    logits = decoder @ unembed.T
    top, bottom = logits.topk(6, dim=1), logits.topk(6, dim=1, largest=False)
    assert torch.equal(lens["pos_idx"], top.indices) and torch.equal(lens["neg_idx"], bottom.indices)
    assert torch.allclose(lens["pos_val"], top.values, atol=1e-5)
    assert torch.allclose(lens["neg_val"], bottom.values, atol=1e-5)


def test_bfloat16_candidates_are_rescored_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two keys whose products differ by less than bfloat16 resolves: the order comes from float32."""
    monkeypatch.setattr(geometry, "candidate_dtype", lambda _device: torch.bfloat16)
    monkeypatch.setattr(geometry, "FAST_QUERIES", 1)
    query = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [1.0 + 1e-4, 0.0], [0.5, 0.0], [-1.0, 0.0]])
    lens = logit_lens(query, keys, n=2)
    assert lens["pos_idx"].tolist() == [[1, 0]]
    assert lens["pos_val"][0, 0].item() == pytest.approx(1.0001, abs=1e-7)


def test_few_queries_are_multiplied_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below FAST_QUERIES the keys are not copied to bfloat16 even where it is fast: products come out exact."""
    monkeypatch.setattr(geometry, "candidate_dtype", lambda _device: torch.bfloat16)
    query = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [1.0 + 1e-4, 0.0], [1.0 + 2e-4, 0.0]] * 20)
    lens = logit_lens(query, keys, n=3)
    assert lens["pos_val"][0].tolist() == pytest.approx([1.0002] * 3, abs=1e-7)
