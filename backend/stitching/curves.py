"""SAE stitching, part 2: stitching curves from a smaller SAE S to a larger SAE L.

A stitched SAE holds some of S's latents and some of L's; each latent keeps its own SAE's encoder,
so its activations never change, and the reconstruction is the sum of the held latents' decoder
contributions plus a decoder bias. Steps, in a stated order, turn S into L:
- insert: one novel L latent goes in;
- swap: one component's S latents go out and its L latents come in;
- drop: one S latent that nothing in L reconstructs goes out.
The decoder bias moves linearly from S's to L's with the fraction of steps done, so the curve
starts exactly at S and ends exactly at L.
"""

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from backend.index.build import ENCODE_ELEMENTS
from backend.models.geometry import fvu, total_variance
from backend.models.sae import SAE
from backend.stitching.matching import DEFAULT_THRESHOLD, Classification

StepKind = Literal["insert", "swap", "drop"]
Order = Literal["grouped", "novel-first", "swaps-first", "interleaved"]
ORDERS: tuple[str, ...] = get_args(Order)
DEFAULT_ORDER: Order = "grouped"
ORDER_HELP = {
    "grouped": "one step per small latent group: its component (or the small latent alone) swapped for its "
    "large partners plus every novel latent whose best match it is; steps in a seeded random order",
    "novel-first": "insert every novel latent, then swap components, then drop unmatched small latents",
    "swaps-first": "swap components, then insert novel latents, then drop unmatched small latents",
    "interleaved": "all steps in one seeded random order",
}
BATCH = 4096
ENTRY_CHUNK = 1 << 16


@dataclass(frozen=True)
class Step:
    kind: StepKind
    small: tuple[int, ...]
    large: tuple[int, ...]


def stitch_steps(classification: Classification, order: Order, large_best: Tensor, seed: int = 0) -> list[Step]:
    """Every step from S to L in `order`; within a kind, a seeded random order (deterministic).

    `large_best [n_l]`: each L latent's best-matching S latent (used by the grouped order)."""
    gen = np.random.default_rng(seed)
    if order == "grouped":
        return _grouped_steps(classification, large_best, gen)
    inserts = [Step("insert", (), (int(i),)) for i in gen.permutation(classification.novel.numpy())]
    components = classification.components
    swaps = [Step("swap", components[i].small, components[i].large) for i in gen.permutation(len(components))]
    drops = [Step("drop", (int(i),), ()) for i in gen.permutation(classification.dropped.numpy())]
    if order == "novel-first":
        return inserts + swaps + drops
    if order == "swaps-first":
        return swaps + inserts + drops
    if order == "interleaved":
        steps = inserts + swaps + drops
        return [steps[i] for i in gen.permutation(len(steps))]
    raise ValueError(f"Unknown stitching order {order!r}; choose one of {', '.join(ORDERS)}.")


def _grouped_steps(classification: Classification, large_best: Tensor, gen: np.random.Generator) -> list[Step]:
    groups = [(list(c.small), list(c.large)) for c in classification.components]
    groups += [([int(j)], []) for j in classification.dropped]
    owner = {j: number for number, (small, _) in enumerate(groups) for j in small}
    for i in classification.novel.tolist():
        number = owner.get(int(large_best[i]))
        # A novel latent whose closest S latent is dead (in no group) is inserted on its own.
        if number is None:
            groups.append(([], [int(i)]))
        else:
            groups[number][1].append(int(i))
    return [_group_step(*groups[i]) for i in gen.permutation(len(groups))]


def _group_step(small: list[int], large: list[int]) -> Step:
    kind: StepKind = "swap" if small and large else "drop" if small else "insert"
    return Step(kind, tuple(small), tuple(sorted(large)))


def step_of_latents(steps: list[Step], n_small: int, n_large: int) -> tuple[Tensor, Tensor]:
    """For each S latent the step that removes it, and for each L latent the step that adds it.

    Latents in no step (the dead ones) are swapped before the first: they never fire, so this
    changes nothing but keeps the end point exactly the larger SAE."""
    out_step = torch.zeros(n_small, dtype=torch.long)
    in_step = torch.zeros(n_large, dtype=torch.long)
    for number, step in enumerate(steps):
        out_step[list(step.small)] = number
        in_step[list(step.large)] = number
    return out_step, in_step


@torch.no_grad()
def _sparse_acts(sae: SAE, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Nonzero activations of `x [n, d]`: token, latent and value, each `[nnz]`."""
    tok, lat, val = [], [], []
    for start in range(0, len(x), BATCH):
        acts = sae.encode(x[start : start + BATCH].to(sae.device).float())
        nz = acts.nonzero()
        tok.append(nz[:, 0] + start)
        lat.append(nz[:, 1])
        val.append(acts[nz[:, 0], nz[:, 1]])
    return torch.cat(tok), torch.cat(lat), torch.cat(val)


def measurement_steps(n_steps: int, points: int) -> list[int]:
    """Steps after which the curve is measured: about `points` evenly spaced, always the first and last."""
    marks = np.unique(np.round(np.linspace(0, n_steps, min(points, n_steps) + 1)).astype(int))
    return [int(m) for m in marks]


@torch.no_grad()
def stitching_curve(small: SAE, large: SAE, x: Tensor, steps: list[Step], points: int = 48) -> pd.DataFrame:
    """Normalised MSE and L0 of the stitched SAE on `x [n, d]` after about `points` evenly spaced steps.

    Columns: steps (done), latents (live ones: those in some step), l0, nmse. Each step's change to the reconstruction is applied
    only to the tokens where its latents fire, so the cost is that of one pass over the nonzeros."""
    dev = large.device
    x = x.to(dev).float()
    out_step, in_step = (t.to(dev) for t in step_of_latents(steps, small.cfg.d_sae, large.cfg.d_sae))
    s_tok, s_lat, s_val = _sparse_acts(small, x)
    l_tok, l_lat, l_val = _sparse_acts(large, x)
    # One list of changes: S entries leave at their latent's step (negative), L entries arrive.
    tok = torch.cat([s_tok, l_tok])
    step = torch.cat([out_step[s_lat], in_step[l_lat]])
    order = step.argsort(stable=True)
    tok, step = tok[order], step[order]
    vec_src = torch.cat([torch.zeros_like(s_lat), torch.ones_like(l_lat)])[order]
    lat = torch.cat([s_lat, l_lat])[order]
    val = torch.cat([-s_val, l_val])[order]
    recon = _decode_entries(small, large, s_tok, torch.zeros_like(s_lat), s_lat, s_val, len(x))
    total_var = total_variance(x)
    n_latents, l0_count = sum(len(step.small) for step in steps), len(s_tok)
    sizes = torch.tensor([len(s.large) - len(s.small) for s in steps]).cumsum(0)
    rows = []
    done = 0
    bounds = torch.searchsorted(step, torch.arange(len(steps) + 1, device=dev))
    for mark in measurement_steps(len(steps), points):
        lo, hi = int(bounds[done]), int(bounds[mark])
        recon += _decode_entries(small, large, tok[lo:hi], vec_src[lo:hi], lat[lo:hi], val[lo:hi], len(x))
        l0_count += int((val[lo:hi] > 0).sum()) - int((val[lo:hi] < 0).sum())
        done = mark
        alpha = mark / max(1, len(steps))
        bias = (1 - alpha) * small.b_dec + alpha * large.b_dec
        nmse = fvu(float(((x - recon - bias) ** 2).sum()), total_var)
        n_now = n_latents + (int(sizes[mark - 1]) if mark else 0)
        rows.append({"steps": mark, "latents": n_now, "l0": l0_count / len(x), "nmse": nmse})
    return pd.DataFrame(rows)


def _decode_entries(
    small: SAE, large: SAE, tok: Tensor, src: Tensor, lat: Tensor, val: Tensor, n_tokens: int
) -> Tensor:
    """Sum of `val * decoder row` per token, `[n_tokens, d]`, rows from S (src 0) or L (src 1); no bias.

    Entries go in chunks: the scaled rows of all 1M nonzeros of 16k tokens at k=64 would be 2.4 GB."""
    out = torch.zeros(n_tokens, small.cfg.d_in, device=small.device)
    for which, sae in ((0, small), (1, large)):
        pick = (src == which).nonzero().squeeze(1)
        for part in pick.split(ENTRY_CHUNK):
            out.index_add_(0, tok[part], sae.W_dec[lat[part]] * val[part].unsqueeze(1))
    return out


@torch.no_grad()
def stitched_reconstruction(small: SAE, large: SAE, x: Tensor, steps: list[Step], done: int) -> Tensor:
    """Reconstruction of `x [..., d]` by the SAE stitched after the first `done` steps (for the model's loss)."""
    out_step, in_step = step_of_latents(steps, small.cfg.d_sae, large.cfg.d_sae)
    keep_small = (out_step >= done).to(small.device)
    keep_large = (in_step < done).to(large.device)
    alpha = done / max(1, len(steps))
    flat = x.float().reshape(-1, x.shape[-1])
    # In chunks of tokens: the dense activations of a forward's 8,192 tokens over 98,304 latents are 3.2 GB, and
    # the encode holds a few such at once (the paper's family ran out of 24 GB here).
    rows = max(1, ENCODE_ELEMENTS // max(small.cfg.d_sae, large.cfg.d_sae))
    parts = [
        (small.encode(part) * keep_small) @ small.W_dec + (large.encode(part) * keep_large) @ large.W_dec
        for part in flat.split(rows)
    ]
    bias = (1 - alpha) * small.b_dec + alpha * large.b_dec
    return (torch.cat(parts) + bias).reshape(*x.shape[:-1], -1)


@dataclass(frozen=True)
class CurveConfig:
    """What a family's stitching curves depend on; shown on the page and part of the cache key."""

    threshold: float = DEFAULT_THRESHOLD
    order: Order = DEFAULT_ORDER
    points: int = 48
    """Measurements of normalised MSE and L0 along each curve."""
    loss_points: int = 3
    """Measurements of the model's next-token loss along each curve (0 = none; each costs a forward pass):
    by default the two ends and the middle."""
    seed: int = 0
    loss_contexts: int = 64
    """Held-out contexts the next-token loss is measured on; its standard error is over contexts."""

    def slug(self) -> str:
        return (
            f"{self.order}-t{self.threshold:.3f}-p{self.points}-l{self.loss_points}x{self.loss_contexts}-s{self.seed}"
        )
