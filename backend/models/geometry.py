"""Decoder geometry: nearest latents by cosine and the logit lens, in chunks so memory stays bounded."""

from dataclasses import dataclass

import torch
from torch import Tensor

from backend.models.language import LanguageModel


def total_variance(x: Tensor) -> float:
    """Squared distance of the rows of `x [n, d]` from their mean, summed: what FVU divides by."""
    x = x.float()
    return float(((x - x.mean(dim=0)) ** 2).sum())


def fvu(squared_error: float, total: float) -> float:
    """Fraction of variance unexplained: summed squared reconstruction error over `total_variance` of the data.
    The stitching curves call the same ratio "normalised MSE" (as the paper does)."""
    return squared_error / max(total, 1e-12)


def unit_rows(matrix: Tensor) -> Tensor:
    return matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def nearest_rows(
    queries: Tensor, keys: Tensor, n: int, exclude_self: bool = False, chunk: int = 2048
) -> tuple[Tensor, Tensor]:
    """For each row of `queries [q, d]`, the `n` rows of `keys [k, d]` of highest cosine.

    Returns (indices `[q, n]`, cosines `[q, n]`). With `exclude_self`, queries and keys are the
    same matrix and a row is never its own neighbour. Never holds more than `chunk x k` similarities.
    """
    q_unit, k_unit = unit_rows(queries.float()), unit_rows(keys.float())
    n = min(n, len(k_unit) - (1 if exclude_self else 0))
    idx = torch.empty(len(q_unit), n, dtype=torch.long, device=q_unit.device)
    cos = torch.empty(len(q_unit), n, device=q_unit.device)
    for start in range(0, len(q_unit), chunk):
        sims = q_unit[start : start + chunk] @ k_unit.T
        if exclude_self:
            rows = torch.arange(len(sims), device=sims.device)
            sims[rows, rows + start] = -torch.inf
        top = sims.topk(n, dim=1)
        idx[start : start + chunk], cos[start : start + chunk] = top.indices, top.values
    return idx, cos


@torch.no_grad()
def logit_lens(decoder: Tensor, unembed: Tensor, n: int = 10, chunk: int = 1024) -> dict[str, Tensor]:
    """Top and bottom `n` vocabulary entries of each decoder row `[d_sae, d]` through `unembed [vocab, d]`."""
    out: dict[str, list[Tensor]] = {"pos_idx": [], "pos_val": [], "neg_idx": [], "neg_val": []}
    for start in range(0, len(decoder), chunk):
        logits = decoder[start : start + chunk].float() @ unembed.T.float()
        top, bottom = logits.topk(n, dim=1), logits.topk(n, dim=1, largest=False)
        out["pos_idx"].append(top.indices)
        out["pos_val"].append(top.values)
        out["neg_idx"].append(bottom.indices)
        out["neg_val"].append(bottom.values)
    return {key: torch.cat(parts) for key, parts in out.items()}


@torch.no_grad()
def best_matches(row: Tensor, unit_decoders: dict[str, Tensor], n: int = 3) -> dict[str, list[tuple[int, float]]]:
    """For one decoder direction `row [d]`, the `n` closest latents (cosine) in each SAE of `unit_decoders`
    (each `[d_sae, d]` with unit rows: callers normalise once, not per query)."""
    query = unit_rows(row.float().unsqueeze(0))
    out = {}
    for sae_id, decoder in unit_decoders.items():
        sims = (decoder.float() @ query.T)[:, 0]
        top = sims.topk(min(n, len(sims)))
        out[sae_id] = [(int(i), float(c)) for i, c in zip(top.indices, top.values, strict=True)]
    return out


@dataclass(frozen=True)
class LogitLens:
    """The tokens one direction promotes and suppresses most, with their logits."""

    promoted: list[str]
    promoted_logits: list[float]
    suppressed: list[str]
    suppressed_logits: list[float]


def direction_lens(direction: Tensor, lm: LanguageModel, n: int = 10) -> LogitLens:
    """The logit lens of one `[d_model]` direction through the model's unembedding."""
    lens = logit_lens(direction.detach().unsqueeze(0), lm.unembedding(), n)
    return LogitLens(
        promoted=lm.token_strings(lens["pos_idx"][0].tolist()),
        promoted_logits=lens["pos_val"][0].tolist(),
        suppressed=lm.token_strings(lens["neg_idx"][0].tolist()),
        suppressed_logits=lens["neg_val"][0].tolist(),
    )
