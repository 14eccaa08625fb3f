"""Matching and classification on synthetic families whose truth is known by construction."""

import pytest
import torch

from backend.core.errors import IncompatibleError
from backend.models.sae import SAE, SAEConfig
from backend.stitching.matching import check_pair, classify, match_decoders

D = 64


def orthonormal(n: int, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(D, n, generator=torch.Generator().manual_seed(seed)))
    return q.T.contiguous()


def synthetic_family() -> tuple[torch.Tensor, torch.Tensor]:
    """S: 16 orthonormal rows. L: copies of S 0-5, S 6 split in three (cos 0.8), S 7+8 merged (cos 0.707),
    four new directions orthogonal to all of S; S 9-15 have no partner."""
    basis = orthonormal(16 + 3 + 4)
    small = basis[:16]
    splits = [0.8 * small[6] + 0.6 * basis[16 + i] for i in range(3)]
    merged = (small[7] + small[8]) / 2**0.5
    large = torch.stack([*small[:6], *splits, merged, *basis[19:23]])
    return small, large


def test_synthetic_classification_is_exact() -> None:
    small, large = synthetic_family()
    found = classify(match_decoders(small, large), 0.7)
    assert found.novel.tolist() == [10, 11, 12, 13]
    assert found.dropped.tolist() == list(range(9, 16))
    kinds = {c.small: (c.large, c.kind) for c in found.components}
    assert kinds == {
        **{(i,): ((i,), "1→1") for i in range(6)},
        (6,): ((6, 7, 8), "1→n"),
        (7, 8): ((9,), "n→1"),
    }
    assert found.summary()["novel fraction"] == pytest.approx(4 / 14)


def test_threshold_filters_stored_edges() -> None:
    small, large = synthetic_family()
    matching = match_decoders(small, large)
    assert len(classify(matching, 0.75).novel) == 5  # the merge (0.707) falls below 0.75
    with pytest.raises(ValueError, match="below the stored edge floor"):
        classify(matching, 0.3)


def test_dead_latents_are_neither_novel_nor_reconstruction() -> None:
    small, large = synthetic_family()
    dead_large = torch.zeros(len(large), dtype=torch.bool)
    dead_large[[0, 10]] = True
    found = classify(match_decoders(small, large), 0.7, dead_large=dead_large)
    assert 10 not in found.novel.tolist() and 0 not in found.by_large
    assert 0 in found.dropped.tolist()
    assert found.summary()["dead large"] == 2


def test_chunked_bf16_matching_equals_the_exact_full_product() -> None:
    gen = torch.Generator().manual_seed(1)
    small = torch.randn(300, 16, generator=gen)
    large = torch.cat([small[:100] + 0.3 * torch.randn(100, 16, generator=gen), torch.randn(500, 16, generator=gen)])
    matching = match_decoders(small, large, floor=0.5, chunk=64)
    cos = torch.nn.functional.normalize(large, dim=1) @ torch.nn.functional.normalize(small, dim=1).T
    assert torch.allclose(matching.large_cos, cos.max(dim=1).values, atol=1e-5)
    assert torch.allclose(matching.small_cos, cos.max(dim=0).values, atol=1e-5)
    found = {(int(s), int(g)) for s, g in zip(matching.edge_small, matching.edge_large, strict=True)}
    truth = {(int(s), int(g)) for g, s in (cos >= 0.5).nonzero().tolist()}
    assert found == truth


def sae(d_in: int, d_sae: int, hook: str = "blocks.8.hook_resid_pre") -> SAE:
    return SAE(SAEConfig(d_in=d_in, d_sae=d_sae, hook_name=hook))


def test_pairs_of_different_families_are_refused() -> None:
    with pytest.raises(IncompatibleError, match="different widths"):
        check_pair(sae(8, 16), sae(12, 32))
    with pytest.raises(IncompatibleError, match="different hooks"):
        check_pair(sae(8, 16), sae(8, 32, "blocks.6.hook_resid_pre"))
    with pytest.raises(IncompatibleError, match="smaller SAE to a larger"):
        check_pair(sae(8, 32), sae(8, 16))


def test_classification_keeps_the_best_partner_of_every_latent() -> None:
    small, large = synthetic_family()
    found = classify(match_decoders(small, large), 0.7)
    assert found.large_best[:6].tolist() == list(range(6))
    assert float(found.large_cos[12]) < 0.7  # a novel latent's closest partner is below the threshold
    assert float(found.small_cos[6]) == pytest.approx(0.8, abs=1e-5)
