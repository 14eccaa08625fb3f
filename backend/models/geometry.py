"""Decoder geometry: nearest latents by cosine and the logit lens, in chunks so memory stays bounded."""

from dataclasses import dataclass

import torch
from torch import Tensor

from backend.core.config import candidate_dtype
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


CANDIDATES = 32
"""Rows kept per query from a bfloat16 product before their products are recomputed in float32: a true top-10
row would have to fall past rank 32 under bfloat16's ~0.4% rounding, far more than the gap that separates them."""
FAST_QUERIES = 32
"""Fewer queries than this are multiplied in float32: the keys' bfloat16 copy would cost more than it saves."""


def _top_products(
    queries: Tensor, keys: Tensor, n: int, signs: tuple[bool, ...], exclude_self: bool, chunk: int
) -> dict[bool, tuple[Tensor, Tensor]]:
    """For each row of `queries [q, d]`, the `n` rows of `keys [k, d]` of largest (sign True) and of smallest
    (False) dot product: (indices `[q, n]`, float32 products `[q, n]`) per sign. Where bfloat16 is fast
    (`candidate_dtype`) the products pick CANDIDATES rows per query whose products are then recomputed in
    float32; elsewhere they are float32 throughout. With `exclude_self` (queries and keys the same matrix, largest
    products only) a row is never its own match. Never holds more than `chunk x k` products."""
    # Converting the keys costs about what a float32 product of 32 queries does (measured at 49,152 x 576 keys).
    fast = candidate_dtype(queries.device) if len(queries) >= FAST_QUERIES else torch.float32
    queries, keys = queries.float(), keys.float()
    keys_fast = keys.to(fast)
    wanted = min(CANDIDATES, len(keys)) if fast != torch.float32 else n
    found: dict[bool, tuple[list[Tensor], list[Tensor]]] = {sign: ([], []) for sign in signs}
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        products = block.to(fast) @ keys_fast.T
        if exclude_self:
            rows = torch.arange(len(block), device=block.device)
            products[rows, rows + start] = -torch.inf
        for largest in signs:
            top = products.topk(wanted, dim=1, largest=largest)
            idx, val = top.indices, top.values.float()
            if wanted != n:
                val = torch.einsum("qd,qcd->qc", block, keys[idx])
                if exclude_self:
                    val[idx == torch.arange(start, start + len(block), device=idx.device).unsqueeze(1)] = -torch.inf
                best = val.topk(n, dim=1, largest=largest)
                idx, val = idx.gather(1, best.indices), best.values
            found[largest][0].append(idx)
            found[largest][1].append(val)
    return {sign: (torch.cat(parts[0]), torch.cat(parts[1])) for sign, parts in found.items()}


@torch.no_grad()
def nearest_rows(
    queries: Tensor, keys: Tensor, n: int, exclude_self: bool = False, chunk: int = 2048
) -> tuple[Tensor, Tensor]:
    """For each row of `queries [q, d]`, the `n` rows of `keys [k, d]` of highest cosine.

    Returns (indices `[q, n]`, cosines `[q, n]`, float32). With `exclude_self`, queries and keys are the
    same matrix and a row is never its own neighbour.
    """
    n = min(n, len(keys) - (1 if exclude_self else 0))
    return _top_products(unit_rows(queries.float()), unit_rows(keys.float()), n, (True,), exclude_self, chunk)[True]


@torch.no_grad()
def logit_lens(decoder: Tensor, unembed: Tensor, n: int = 10, chunk: int = 1024) -> dict[str, Tensor]:
    """Top and bottom `n` vocabulary entries of each decoder row `[d_sae, d]` through `unembed [vocab, d]`."""
    found = _top_products(decoder, unembed, n, (True, False), False, chunk)
    return {
        "pos_idx": found[True][0],
        "pos_val": found[True][1],
        "neg_idx": found[False][0],
        "neg_val": found[False][1],
    }


@torch.no_grad()
def best_matches(row: Tensor, decoders: dict[str, Tensor], n: int = 3) -> dict[str, list[tuple[int, float]]]:
    """For one decoder direction `row [d]`, the `n` closest latents (cosine) in each SAE of `decoders` (each
    `[d_sae, d]`, rows of any norm: each product is divided by its row's norm, so no unit-norm copy is made)."""
    query = unit_rows(row.float().unsqueeze(0))[0]
    out = {}
    for sae_id, decoder in decoders.items():
        rows = decoder.float()
        sims = (rows @ query) / rows.norm(dim=1).clamp_min(1e-12)
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
    # The final norm's gain scales the direction rather than a copy of the whole unembedding.
    unembed, gain = lm.unembedding_parts()
    query = direction.detach().float().unsqueeze(0)
    lens = logit_lens(query * gain if gain is not None else query, unembed, n)
    return LogitLens(
        promoted=lm.token_strings(lens["pos_idx"][0].tolist()),
        promoted_logits=lens["pos_val"][0].tolist(),
        suppressed=lm.token_strings(lens["neg_idx"][0].tolist()),
        suppressed_logits=lens["neg_val"][0].tolist(),
    )
