import math

import pytest
import torch

from backend.models.sae import SAE, SAEConfig
from backend.training import metrics
from backend.training.metrics import member_coherence, random_nn_cosine_baseline


def identity_sae(d: int) -> SAE:
    """An SAE whose latent i is input coordinate i (ReLU), so activations are the inputs themselves."""
    sae = SAE(SAEConfig(d_in=d, d_sae=d, architecture="standard"))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def dense_coherence(acts: torch.Tensor, members: list[int]) -> float:
    vecs = acts[:, members].T
    vecs = vecs / vecs.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sims = vecs @ vecs.T
    n = len(members)
    return float((sims.sum() - sims.diagonal().sum()) / (n * (n - 1)))


def test_coherence_equals_the_dense_pairwise_cosines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "EVAL_BATCH", 7)  # several batches folded into the Gram matrix
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(50, 12, generator=gen) * (torch.rand(50, 12, generator=gen) > 0.6)
    meta_acts = torch.zeros(12, 2)
    meta_acts[[0, 3, 5], 0] = torch.tensor([0.9, 0.5, 0.7])
    meta_acts[[1, 2], 1] = torch.tensor([0.4, 0.8])
    out = member_coherence(meta_acts, identity_sae(12), x, members=8, random_sets=5)
    expected = (dense_coherence(x, [0, 3, 5]) + dense_coherence(x, [1, 2])) / 2
    assert out["coherence_mean"] == pytest.approx(expected, abs=1e-6)
    assert out["meta_latents_with_members"] == 2
    assert out["coherence_tokens"] == 50


def test_members_that_fire_together_score_high_and_random_sets_low() -> None:
    """Latents 0-3 fire on the same tokens; the rest fire alone. One meta-latent groups 0-3, another
    groups four of the loners: only the first is coherent, and random sets sit near zero."""
    d, n = 64, 4000
    gen = torch.Generator().manual_seed(1)
    x = torch.zeros(n, d)
    together = torch.rand(n, generator=gen) < 0.05
    x[together, :4] = 1.0 + torch.rand(int(together.sum()), 4, generator=gen)
    for latent in range(4, d):
        x[torch.randint(n, (20,), generator=gen), latent] = 1.0
    meta_acts = torch.zeros(d, 2)
    meta_acts[:4, 0] = 1.0
    meta_acts[10:14, 1] = 1.0
    out = member_coherence(meta_acts, identity_sae(d), x)
    together_score, loners_score = dense_coherence(x, [0, 1, 2, 3]), dense_coherence(x, [10, 11, 12, 13])
    assert out["coherence_mean"] == pytest.approx((together_score + loners_score) / 2, abs=1e-6)
    assert together_score > 0.9
    assert loners_score < 0.1
    assert out["coherence_random_baseline"] < 0.1


def test_random_baseline_is_the_nearest_neighbour_cosine_of_random_dictionaries() -> None:
    """Against an independent brute-force estimate: every row of several random dictionaries, another seed."""
    draws = []
    for seed in range(1, 4):
        rows = torch.nn.functional.normalize(
            torch.randn(2048, 64, generator=torch.Generator().manual_seed(seed)), dim=1
        )
        cos = rows @ rows.T
        cos.fill_diagonal_(-1.0)
        draws.append(float(cos.max(dim=1).values.mean()))
    assert random_nn_cosine_baseline(2048, 64) == pytest.approx(sum(draws) / len(draws), abs=0.005)
    assert random_nn_cosine_baseline(4096, 64) > random_nn_cosine_baseline(2048, 64)
    assert random_nn_cosine_baseline(2048, 64) < math.sqrt(2 * math.log(2048) / 64), "below its asymptote"
