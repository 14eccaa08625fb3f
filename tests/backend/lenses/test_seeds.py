"""Uniqueness across seeds against planted ground truth: decoders sharing a known fraction of directions."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from backend.lenses.seeds import align_decoders, align_seeds
from backend.models.sae import SAE, SAEConfig


def planted_pair(n: int, d: int, shared: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two decoders whose first `shared` rows of A reappear (noised, shuffled) in B; the rest of B is random.
    Returns A, B and where each row of A went in B."""
    draw = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=draw)
    b = torch.randn(n, d, generator=draw)
    b[:shared] = a[:shared] + 0.05 * torch.randn(shared, d, generator=draw)
    order = torch.randperm(n, generator=draw)
    return a, b[order], torch.argsort(order)


def test_the_planted_shared_fraction_is_found_and_every_shared_row_gets_its_twin() -> None:
    a, b, where = planted_pair(600, 64, 240)
    partner, cosine = align_decoders(a, b)
    assert int((cosine >= 0.7).sum()) == 240
    assert torch.equal(partner[:240], where[:240])
    assert len(set(partner.tolist())) == 600  # one to one


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 30), st.integers(0, 2**16))
def test_with_every_pair_a_candidate_the_assignment_is_the_dense_optimum(n: int, seed: int) -> None:
    draw = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 8, generator=draw), torch.randn(n, 8, generator=draw)
    _, cosine = align_decoders(a, b, k=n)
    unit = lambda m: m / m.norm(dim=1, keepdim=True)  # noqa: E731
    dense = (unit(a) @ unit(b).T).double().numpy()
    rows, cols = linear_sum_assignment(dense, maximize=True)
    assert np.isclose(float(cosine.double().sum()), dense[rows, cols].sum(), atol=1e-4)


def test_a_latent_is_shared_only_when_its_encoder_agrees_too() -> None:
    a, b, where = planted_pair(50, 16, 50)
    first, second = SAE(SAEConfig(d_in=16, d_sae=50)), SAE(SAEConfig(d_in=16, d_sae=50))
    with torch.no_grad():
        first.W_dec.copy_(a)
        second.W_dec.copy_(b)
        first.W_enc.copy_(a.T)
        encoders = b.T.clone()
        encoders[:, where[:10]] = torch.randn(16, 10, generator=torch.Generator().manual_seed(1))
        second.W_enc.copy_(encoders)
    found = align_seeds(first, second)
    assert found.shared().tolist() == [False] * 10 + [True] * 40
    assert found.shared_fraction() == pytest.approx(0.8)
    assert found.shared_fraction(alive=torch.arange(50) >= 10) == 1.0


def test_two_seeds_trained_on_a_planted_dictionary_share_the_atoms_both_recover() -> None:
    """Data made of 1-2 of 24 planted atoms: an atom both seeds recover is shared, so the shared fraction is at
    least the share of atoms both recover."""
    from backend.training.objectives import BatchTopK
    from backend.training.trainer import TrainConfig, train_sae

    draw = torch.Generator().manual_seed(0)
    atoms = torch.nn.functional.normalize(torch.randn(24, 16, generator=draw), dim=1)
    codes = torch.zeros(6000, 24)
    for row, count in enumerate(torch.randint(1, 3, (6000,), generator=draw).tolist()):
        codes[row, torch.randperm(24, generator=draw)[:count]] = 1 + torch.rand(count, generator=draw)
    x = codes @ atoms
    trained = [
        train_sae(x, TrainConfig(d_sae=24, objective=BatchTopK(k=2), batch_size=256, epochs=6, lr=3e-3, seed=seed)).sae
        for seed in (1, 2)
    ]
    found = align_seeds(*trained)
    best = [(t.unit_decoder() @ atoms.T).max(dim=1) for t in trained]
    partner_best = best[1].values[found.partner], best[1].indices[found.partner]
    # The same atom recovered by a latent and by its partner (the alignment may pair a latent of an atom that the
    # other seed missed with a latent of another atom: those are not claimed shared).
    both = (best[0].values >= 0.9) & (partner_best[0] >= 0.9) & (best[0].indices == partner_best[1])
    assert both.float().mean() >= 0.5  # the trainer recovers most atoms from either seed
    assert found.shared()[both].all()
    assert found.shared_fraction() >= float(both.float().mean())  # latents both seeds learnt alike count too
