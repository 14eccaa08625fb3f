"""Stitching curves on a synthetic family: exact end points, monotone where the truth says so."""

import pytest
import torch

from backend.models.sae import SAE, SAEConfig
from backend.stitching.curves import ORDERS, Step, stitch_steps, stitched_reconstruction, stitching_curve
from backend.stitching.matching import classify, match_decoders
from tests.backend.stitching.test_matching import D, orthonormal


def relu_sae(decoder: torch.Tensor, bias: torch.Tensor) -> SAE:
    sae = SAE(SAEConfig(d_in=D, d_sae=len(decoder)))
    sae.W_dec.data, sae.W_enc.data, sae.b_dec.data = decoder.clone(), decoder.T.clone(), bias.clone()
    return sae.requires_grad_(False)


def family_and_data() -> tuple[SAE, SAE, torch.Tensor]:
    """True features: 24 orthonormal directions. S knows 16, L all 24 (novel: the other 8)."""
    features = orthonormal(24, seed=3)
    gen = torch.Generator().manual_seed(0)
    codes = (torch.rand(2000, 24, generator=gen) < 0.2) * (1 + torch.rand(2000, 24, generator=gen))
    bias = 0.1 * torch.randn(D, generator=gen)
    small = relu_sae(features[:16], bias)
    large = relu_sae(torch.cat([features[16:20], features[:16], features[20:]]), bias)
    return small, large, codes @ features + bias


def fvu(sae: SAE, x: torch.Tensor) -> float:
    return float(((x - sae(x)) ** 2).sum() / ((x - x.mean(dim=0)) ** 2).sum())


def steps_for(small: SAE, large: SAE, order: str) -> list:
    matching = match_decoders(small.W_dec, large.W_dec)
    return stitch_steps(classify(matching, 0.7), order, matching.large_best)  # type: ignore[arg-type]


def test_curve_runs_from_the_small_sae_to_the_large_one_in_every_order() -> None:
    small, large, x = family_and_data()
    for order in ORDERS:
        curve = stitching_curve(small, large, x, steps_for(small, large, order), points=10)
        assert abs(curve["nmse"].iloc[0] - fvu(small, x)) < 1e-5
        assert abs(curve["nmse"].iloc[-1] - fvu(large, x)) < 1e-5
        assert curve["latents"].tolist()[0] == 16 and curve["latents"].tolist()[-1] == 24
        assert abs(curve["l0"].iloc[-1] - float((large.encode(x) > 0).sum(dim=1).float().mean())) < 1e-4


def test_grouped_order_inserts_a_novel_latent_whose_closest_partner_is_dead() -> None:
    """S latent 0 is dead: the L latent closest to it is novel with no group to join, and is
    inserted on its own; the curve still ends exactly at L."""
    small, large, x = family_and_data()
    matching = match_decoders(small.W_dec, large.W_dec)
    dead_small = torch.zeros(16, dtype=torch.bool)
    dead_small[0] = True
    classification = classify(matching, 0.7, dead_small=dead_small)
    steps = stitch_steps(classification, "grouped", matching.large_best)
    orphan = int((matching.large_best == 0).nonzero()[0])
    assert Step("insert", (), (orphan,)) in steps
    assert sorted(i for step in steps for i in step.large) == sorted(
        classification.novel.tolist() + [i for c in classification.components for i in c.large]
    )
    curve = stitching_curve(small, large, x, steps, points=10)
    assert abs(curve["nmse"].iloc[-1] - fvu(large, x)) < 1e-5


def test_inserting_true_novel_features_lowers_the_error_monotonically() -> None:
    small, large, x = family_and_data()
    curve = stitching_curve(small, large, x, steps_for(small, large, "novel-first"), points=30)
    assert (curve["nmse"].diff().dropna() <= 1e-6).all()
    assert curve["nmse"].iloc[-1] < 0.05 < fvu(small, x)


def test_the_stitched_reconstruction_matches_the_curve() -> None:
    small, large, x = family_and_data()
    steps = steps_for(small, large, "interleaved")
    curve = stitching_curve(small, large, x, steps, points=len(steps))
    for done in (0, 3, len(steps)):
        recon = stitched_reconstruction(small, large, x, steps, done)
        nmse = float(((x - recon) ** 2).sum() / ((x - x.mean(dim=0)) ** 2).sum())
        assert abs(nmse - curve.set_index("steps").at[done, "nmse"]) < 1e-5


def test_the_stitched_reconstruction_is_the_same_in_chunks_of_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model's forward hands the splice `[contexts, seq, d]`; it is encoded a few tokens at a time."""
    from backend.stitching import curves

    small, large, x = family_and_data()
    steps = steps_for(small, large, "interleaved")
    batch = x[:60].reshape(4, 15, D)
    whole = stitched_reconstruction(small, large, batch, steps, 3)
    monkeypatch.setattr(curves, "ENCODE_ELEMENTS", 2 * large.cfg.d_sae + 1)  # two tokens a chunk
    chunked = stitched_reconstruction(small, large, batch, steps, 3)
    assert chunked.shape == batch.shape
    torch.testing.assert_close(chunked, whole)
