"""Uniqueness across seeds (Paulo & Belrose 2025): is a latent found again by an SAE trained from another seed?

The two SAEs' latents are aligned one to one by the Hungarian assignment on decoder cosine; a latent is *shared*
when its partner's decoder cosine and encoder cosine are both at or above `SHARED_COSINE`, *seed-specific*
otherwise. A dense assignment of two 9,216-latent SAEs takes about 31 s on 2 cores and a 98,304 one does not fit
in memory, so the assignment runs on a sparse graph: each latent's `CANDIDATES` best partners both ways, plus the
identity pairs, which guarantee a perfect matching exists. On the embedded default's four pairs of seeds it
keeps 99.5-100% of the dense assignment's total cosine and its count of pairs at decoder cosine >= 0.7 within 0.5%
(either way: the optima differ in a few near-ties), in 4.8 s against 30 s at 9,216 latents;
98,304 latents take minutes and a few GB where a dense cost matrix would be 38.7 GB
(benchmarks/bench_seed_alignment.py).
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from torch import Tensor

from backend.core.errors import IncompatibleError
from backend.models.geometry import unit_rows
from backend.models.sae import SAE

SHARED_COSINE = 0.7
"""Partners at or above this cosine on both encoder and decoder are the same latent found twice."""
CANDIDATES = 16
"""Best partners per latent, each way, that the assignment may choose from."""
CHUNK = 1024


@dataclass(frozen=True)
class SeedAlignment:
    """One-to-one partners of SAE A's latents in SAE B (trained from another seed)."""

    partner: Tensor  # [n] int64: the latent of B matched to each latent of A
    decoder_cos: Tensor  # [n] float32
    encoder_cos: Tensor  # [n] float32

    def shared(self, threshold: float = SHARED_COSINE) -> Tensor:
        """`[n]` bool: found again by the other seed."""
        return (self.decoder_cos >= threshold) & (self.encoder_cos >= threshold)

    def shared_fraction(self, alive: Tensor | None = None, threshold: float = SHARED_COSINE) -> float:
        """Share of the live latents (`alive [n]` bool; all when None) that are shared."""
        shared = self.shared(threshold)
        if alive is not None:
            shared = shared[alive]
        return float(shared.float().mean()) if len(shared) else float("nan")

    def tensors(self) -> dict[str, Tensor]:
        return {"partner": self.partner, "decoder_cos": self.decoder_cos, "encoder_cos": self.encoder_cos}


def candidate_pairs(a: Tensor, b: Tensor, k: int = CANDIDATES, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """For unit rows `a [n, d]` and `b [n, d]`: each row's `k` best columns of `a @ b.T` and each column's `k` best rows, in one chunked pass (the product
    is never held whole), plus the identity pairs; distinct (row, column) pairs."""
    n, k = len(a), min(k, len(a))
    rows, cols = [np.arange(n)], [np.arange(n)]
    best_vals = torch.full((k, n), -2.0)
    best_rows = torch.zeros((k, n), dtype=torch.long)
    for start in range(0, n, chunk):
        sims = a[start : start + chunk] @ b.T  # [chunk, n]
        top = sims.topk(k, dim=1).indices
        rows.append(np.repeat(np.arange(start, start + len(sims)), k))
        cols.append(top.numpy().ravel())
        merged = torch.cat([best_vals, sims])
        order = merged.topk(k, dim=0).indices
        best_vals = merged.gather(0, order)
        best_rows = torch.where(order < k, best_rows.gather(0, order.clamp(max=k - 1)), start + order - k)
    rows.append(best_rows.numpy().ravel())
    cols.append(np.tile(np.arange(n), k))
    flat = np.unique(np.concatenate(rows).astype(np.int64) * n + np.concatenate(cols))
    return flat // n, flat % n


def align_decoders(dec_a: Tensor, dec_b: Tensor, k: int = CANDIDATES) -> tuple[Tensor, Tensor]:
    """The one-to-one assignment of the rows of `dec_a [n, d]` to B's to those of `dec_b [n, d]` maximising total cosine over candidate pairs:
    (partner [n], cosine [n])."""
    if dec_a.shape != dec_b.shape:
        raise IncompatibleError(
            f"Seeds are aligned one to one, so both SAEs need the same shape; got {tuple(dec_a.shape)} and "
            f"{tuple(dec_b.shape)}."
        )
    a, b = unit_rows(dec_a.detach().float()), unit_rows(dec_b.detach().float())
    rows, cols = candidate_pairs(a, b, k)
    cos = _pair_cosines(a, b, torch.from_numpy(rows), torch.from_numpy(cols)).double().numpy()
    n = len(a)
    # Costs must be positive: an explicit zero would read as a missing edge.
    cost = csr_matrix((2.0 - cos, (rows, cols)), shape=(n, n))
    _, partner = min_weight_full_bipartite_matching(cost)
    partner_t = torch.from_numpy(partner).long()
    return partner_t, (a * b[partner_t]).sum(dim=1)


def _pair_cosines(a: Tensor, b: Tensor, rows: Tensor, cols: Tensor, chunk: int = 1 << 18) -> Tensor:
    """`[p]` dot products of unit rows `a[rows]` and `b[cols]`, in chunks (3M pairs x 768 would be 10 GB at once)."""
    return torch.cat([
        (a[rows[start : start + chunk]] * b[cols[start : start + chunk]]).sum(dim=1)
        for start in range(0, len(rows), chunk)
    ])  # fmt: skip


@torch.no_grad()
def align_seeds(first: SAE, second: SAE, k: int = CANDIDATES) -> SeedAlignment:
    """Align two SAEs trained from different seeds (on the same device as their weights)."""
    partner, decoder_cos = align_decoders(first.W_dec.cpu(), second.W_dec.cpu(), k)
    enc_a, enc_b = unit_rows(first.W_enc.T.float().cpu()), unit_rows(second.W_enc.T.float().cpu())
    encoder_cos = (enc_a * enc_b[partner]).sum(dim=1)
    return SeedAlignment(partner, decoder_cos.float().contiguous(), encoder_cos.float().contiguous())
