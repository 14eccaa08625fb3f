"""Where a trainer's dictionary starts: decoder rows at diverse inputs, encoder biases at chosen firing rates."""

import torch
from torch import Tensor

INIT_POOL = 8
"""Candidate inputs drawn per latent for the diverse data initialisation."""
INIT_CHUNK = 2048
CALIBRATION_TOKENS = 4096
CALIBRATION_BYTES = 32
"""Device bytes `calibrated_bias` holds per sampled token and latent: the pre-activations, their sorted values and
their int64 order (16.5 measured on the CPU, tests/backend/training/test_trainer.py), twice over for the scratch copy
a GPU's radix sort keeps."""


def calibration_bytes(d_sae: int) -> int:
    """Device memory `calibrated_bias` holds at its peak for `d_sae` latents (the weights aside)."""
    return CALIBRATION_BYTES * CALIBRATION_TOKENS * d_sae


@torch.no_grad()
def calibrated_bias(enc: Tensor, b_dec: Tensor, x: Tensor, density: Tensor, gen: torch.Generator) -> Tensor:
    """`[d_sae]` encoder biases at which latent j of encoder rows `enc [d_sae, d_in]` fires on about `density[j]`
    of a sample of `x [n, d_in]`."""
    sample = x[torch.randint(len(x), (min(len(x), CALIBRATION_TOKENS),), generator=gen)].float().to(enc.device)
    pre = (sample - b_dec) @ enc.T
    # The (1 - density) quantile of each column, by sorting: quantile refuses inputs over 16M entries.
    ranks = (len(sample) * (1 - density.clamp(0, 1))).round().long().clamp(1, len(sample)) - 1
    return -pre.sort(dim=0).values.gather(0, ranks.to(pre.device)[None, :])[0]


@torch.no_grad()
def diverse_rows(x: Tensor, mean: Tensor, n: int, max_cosine: float, gen: torch.Generator) -> Tensor:
    """`n` centred inputs `[n, d_in]`, each at most `max_cosine` from every earlier pick when the
    candidates allow it.

    Random inputs repeat the commonest tokens many times; duplicate latents then compete under
    BatchTopK, one wins and the others never fire again. Candidates are judged against the picks
    only (not against rejected candidates), greedily in chunks; a pool of `INIT_POOL * n` inputs
    yields `n` diverse picks on the embedded corpus at 18,432 latents, where judging against every
    earlier candidate of a 3n pool let 29% near-duplicates through."""
    candidates = x[torch.randint(len(x), (INIT_POOL * n,), generator=gen)].float() - mean.cpu()
    unit = candidates / candidates.norm(dim=1, keepdim=True).clamp_min(1e-6)
    picks: list[Tensor] = []
    picked_rows = unit[:0]
    for start in range(0, len(unit), INIT_CHUNK):
        chunk = unit[start : start + INIT_CHUNK]
        rejected = (chunk @ picked_rows.T > max_cosine).any(dim=1)
        sims = chunk @ chunk.T > max_cosine
        accepted = []
        for i in range(len(chunk)):
            if not rejected[i]:
                accepted.append(i)
                rejected |= sims[i]
        chosen = torch.tensor(accepted, dtype=torch.long) + start
        picks.append(chosen)
        picked_rows = torch.cat([picked_rows, unit[chosen]])
        if len(picked_rows) >= n:
            break
    chosen = torch.cat(picks)
    # Too few diverse candidates (tiny data): fill up with the remaining ones.
    rest = torch.ones(len(unit), dtype=torch.bool)
    rest[chosen] = False
    return candidates[torch.cat([chosen, rest.nonzero().squeeze(1)])[:n]]
