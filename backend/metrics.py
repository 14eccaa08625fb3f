"""Quality figures for SAEs and meta-SAEs, saved next to each and shown in the app.

FVU alone can hide a dictionary that is still its random initialisation (an overcomplete random
dictionary reconstructs too), so decoder geometry is measured as well: nearest-neighbour cosine
against the random baseline, and drift from the initial rows. Meta-latents are judged by the
coherence of their member latents' activations on held-out tokens.
"""

import math

import torch
from torch import Tensor

from backend.geometry import nearest_rows
from backend.sae import SAE

EVAL_BATCH = 4096
COHERENCE_MEMBERS = 8


@torch.no_grad()
def reconstruction_metrics(sae: SAE, x: Tensor) -> dict[str, float]:
    """FVU, L0 and dead fraction of `sae` (inference mode) on held-out `x [n, d_in]`."""
    sq_err = 0.0
    l0 = 0.0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool, device=sae.device)
    mean = x.float().mean(dim=0).to(sae.device)
    total_var = 0.0
    for start in range(0, len(x), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH].float().to(sae.device)
        acts = sae.encode(xb)
        sq_err += (sae.decode(acts) - xb).pow(2).sum().item()
        total_var += (xb - mean).pow(2).sum().item()
        active = acts > 0
        l0 += active.sum().item()
        fired |= active.any(dim=0)
    return {
        "fvu": sq_err / max(total_var, 1e-12),
        "l0": l0 / max(len(x), 1),
        "dead_fraction": 1.0 - fired.float().mean().item(),
        "eval_tokens": float(len(x)),
    }


def random_nn_cosine_baseline(d_sae: int, d_in: int) -> float:
    """Expected max |cosine| of a random unit vector against `d_sae` others in `d_in` dimensions."""
    return math.sqrt(2 * math.log(d_sae) / d_in)


@torch.no_grad()
def decoder_geometry(sae: SAE, init_decoder: Tensor | None = None) -> dict[str, float]:
    nn_cos = nearest_rows(sae.W_dec, sae.W_dec, 1, exclude_self=True)[1][:, 0]
    out = {
        "nn_cosine_mean": nn_cos.mean().item(),
        "nn_cosine_random_baseline": random_nn_cosine_baseline(sae.cfg.d_sae, sae.cfg.d_in),
    }
    if init_decoder is not None:
        init = init_decoder.to(sae.device)
        init = init / init.norm(dim=1, keepdim=True)
        out["cosine_with_init_mean"] = (sae.unit_decoder() * init).sum(dim=1).mean().item()
    return out


@torch.no_grad()
def meta_variance_explained(meta: SAE, rows: Tensor) -> float:
    """Fraction of the variance of `rows [n, d_in]` (unit-norm decoder rows) the meta-SAE reconstructs."""
    recon = meta(rows)
    return 1.0 - (rows - recon).pow(2).sum().item() / (rows - rows.mean(dim=0)).pow(2).sum().item()


@torch.no_grad()
def member_coherence(
    meta_acts: Tensor, latent_acts: Tensor, members: int = COHERENCE_MEMBERS, seed: int = 0
) -> dict[str, float]:
    """Mean pairwise cosine between the activation vectors of each meta-latent's top members.

    `meta_acts [d_sae, n_meta]`: meta-latent activations on every SAE latent's decoder row.
    `latent_acts [n_tokens, d_sae]`: SAE activations on held-out tokens.
    Returns the mean over meta-latents with at least two members, and the same for random sets.
    """
    unit = latent_acts.float().T
    unit = unit / unit.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def mean_pair_cos(idx: Tensor) -> float:
        vecs = unit[idx]
        sims = vecs @ vecs.T
        n = len(idx)
        return (sims.sum().item() - sims.diagonal().sum().item()) / (n * (n - 1))

    scores = []
    for j in range(meta_acts.shape[1]):
        col = meta_acts[:, j]
        count = min(members, int((col > 0).sum()))
        if count >= 2:
            scores.append(mean_pair_cos(col.topk(count).indices))
    gen = torch.Generator().manual_seed(seed)
    random_scores = [mean_pair_cos(torch.randperm(len(unit), generator=gen)[:members]) for _ in range(200)]
    return {
        "coherence_mean": sum(scores) / max(len(scores), 1),
        "coherence_random_baseline": sum(random_scores) / len(random_scores),
        "meta_latents_with_members": float(len(scores)),
    }
