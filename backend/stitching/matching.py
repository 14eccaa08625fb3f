"""SAE stitching, part 1: decoder matching between two SAEs of a family, and what it classifies.

Matching finds, for every latent of a smaller SAE S and of a larger SAE L, its best decoder-cosine
partner in the other, plus every (S, L) pair above a floor cosine. The product `L @ S.T` is taken
in row chunks, so 98,304 x 49,152 never exists in memory: candidates come from a bfloat16 product
and their cosines are recomputed exactly in float32, so every stored value is exact.

Classification at a threshold (>= the floor, so it is a filter on stored edges): L latents with a
partner at or above it are *reconstruction* latents, the rest *novel*; reconstruction latents and
their S partners form the connected components of the bipartite graph of edges above it. S latents
with no partner are *dropped*: nothing in L reconstructs them. Dead latents (never firing) are
left out of all three: a dead latent's decoder row is an untrained direction, not a feature.
"""

import itertools
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from backend.core.config import candidate_dtype
from backend.core.errors import IncompatibleError
from backend.models.sae import SAE

DEFAULT_THRESHOLD = 0.7
"""Cosine above which a larger SAE's latent reconstructs a smaller one's (the meta-SAE post's value)."""
EDGE_FLOOR = 0.5
"""Edges are stored down to this cosine, so any threshold at or above it needs no recomputation."""
CHUNK = 2048
CANDIDATES = 4
"""bfloat16 candidates per small latent whose cosine is recomputed exactly; bf16 cosines are off by < 0.01."""
ROW_CANDIDATES = 8
"""bfloat16 candidates per large latent; rows with more near-floor partners than this get all of them."""
MARGIN = 0.02
"""Edges are kept from bf16 cosines this far under the floor, then filtered on exact values."""

ComponentKind = Literal["1→1", "1→n", "n→1", "n→m"]


@dataclass
class Matching:
    """Best partners both ways and every edge at or above `floor` between S (smaller) and L (larger)."""

    small_best: Tensor  # [n_s]
    small_cos: Tensor  # [n_s]
    large_best: Tensor  # [n_l]
    large_cos: Tensor  # [n_l]
    edge_small: Tensor  # [e]
    edge_large: Tensor  # [e]
    edge_cos: Tensor  # [e]
    floor: float
    dead_small: Tensor | None = None  # [n_s] bool: never fires (None: unknown, all live)
    dead_large: Tensor | None = None  # [n_l] bool

    @property
    def n_small(self) -> int:
        return len(self.small_best)

    @property
    def n_large(self) -> int:
        return len(self.large_best)

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in _TENSORS if getattr(self, name) is not None}


_TENSORS = (
    "small_best",
    "small_cos",
    "large_best",
    "large_cos",
    "edge_small",
    "edge_large",
    "edge_cos",
    "dead_small",
    "dead_large",
)


def matching_from_tensors(tensors: dict[str, Tensor], floor: float) -> Matching:
    return Matching(**{name: tensors.get(name) for name in _TENSORS}, floor=floor)  # type: ignore[arg-type]


def check_pair(small: SAE, large: SAE) -> None:
    """Refuse pairs that are not of one family: same width and hook, and the smaller one first."""
    a, b = small.cfg, large.cfg
    if a.d_in != b.d_in:
        raise IncompatibleError(
            f"The SAEs read vectors of different widths ({a.d_in} vs {b.d_in}); they cannot be stitched."
        )
    if a.hook_name and b.hook_name and a.hook_name != b.hook_name:
        raise IncompatibleError(
            f"The SAEs read different hooks ({a.hook_name} vs {b.hook_name}); only SAEs of one hook can be stitched."
        )
    if a.d_sae >= b.d_sae:
        raise IncompatibleError(
            f"Stitching goes from a smaller SAE to a larger one; got {a.d_sae} then {b.d_sae} latents."
        )


def _unit(rows: Tensor) -> Tensor:
    rows = rows.float()
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _exact(a: Tensor, b: Tensor, ia: Tensor, ib: Tensor) -> Tensor:
    """Exact cosines between unit rows `a[ia]` and `b[ib]` (any matching shapes)."""
    return (a[ia] * b[ib]).sum(dim=-1)


@torch.no_grad()
def match_decoders(
    small: Tensor,
    large: Tensor,
    floor: float = EDGE_FLOOR,
    chunk: int = CHUNK,
) -> Matching:
    """Match decoder rows `small [n_s, d]` and `large [n_l, d]` (any norms; they are normalised),
    on the tensors' device."""
    s, big = _unit(small), _unit(large)
    s16 = s.to(candidate_dtype(s.device))
    n_row = min(ROW_CANDIDATES, len(s))
    n_col = min(CANDIDATES, chunk, len(big))
    col_val = torch.full((len(s), n_col), -2.0, device=s.device)
    col_idx = torch.zeros((len(s), n_col), dtype=torch.long, device=s.device)
    large_best, large_cos = [], []
    edge_s: list[Tensor] = []
    edge_l: list[Tensor] = []
    edge_c: list[Tensor] = []
    for start in range(0, len(big), chunk):
        rows_idx = torch.arange(start, min(start + chunk, len(big)), device=s.device)
        sims = (big[rows_idx].to(s16.dtype) @ s16.T).float()
        top = sims.topk(n_row, dim=1)
        exact = _exact(big, s, rows_idx.unsqueeze(1), top.indices)
        best = exact.argmax(dim=1, keepdim=True)
        large_best.append(top.indices.gather(1, best).squeeze(1))
        large_cos.append(exact.gather(1, best).squeeze(1))
        ok = exact >= floor
        edge_s.append(top.indices[ok])
        edge_l.append(rows_idx.unsqueeze(1).expand_as(ok)[ok])
        edge_c.append(exact[ok])
        crowded = (top.values[:, -1] >= floor - MARGIN).nonzero().squeeze(1)
        if len(crowded) and n_row < len(s):
            _all_edges(big, s, rows_idx[crowded], sims[crowded], top.indices[crowded], floor, edge_s, edge_l, edge_c)
        # Transposed, each small latent's candidates are a contiguous row: a faster top-k than along dim 0.
        cols = sims.T.contiguous().topk(min(n_col, len(rows_idx)), dim=1)
        merged_val = torch.cat([col_val, cols.values.float()], dim=1)
        merged_idx = torch.cat([col_idx, cols.indices + start], dim=1)
        keep = merged_val.topk(n_col, dim=1).indices
        col_val, col_idx = merged_val.gather(1, keep), merged_idx.gather(1, keep)
    small_exact = _exact(s, big, torch.arange(len(s), device=s.device).unsqueeze(1), col_idx)
    best = small_exact.argmax(dim=1, keepdim=True)
    return Matching(
        small_best=col_idx.gather(1, best).squeeze(1).cpu(),
        small_cos=small_exact.gather(1, best).squeeze(1).cpu(),
        large_best=torch.cat(large_best).cpu(),
        large_cos=torch.cat(large_cos).cpu(),
        edge_small=_cat(edge_s, torch.long),
        edge_large=_cat(edge_l, torch.long),
        edge_cos=_cat(edge_c, torch.float32),
        floor=floor,
    )


def _all_edges(
    big: Tensor,
    s: Tensor,
    rows: Tensor,
    sims: Tensor,
    seen: Tensor,
    floor: float,
    edge_s: list[Tensor],
    edge_l: list[Tensor],
    edge_c: list[Tensor],
) -> None:
    """Edges of rows with more near-floor partners than candidates: every pair, minus those already kept."""
    hit = (sims >= floor - MARGIN).nonzero()
    new = ~(seen[hit[:, 0]] == hit[:, 1].unsqueeze(1)).any(dim=1)
    hit = hit[new]
    cos = _exact(big, s, rows[hit[:, 0]], hit[:, 1])
    ok = cos >= floor
    edge_s.append(hit[ok, 1])
    edge_l.append(rows[hit[ok, 0]])
    edge_c.append(cos[ok])


def _cat(parts: list[Tensor], dtype: torch.dtype) -> Tensor:
    return torch.cat(parts).cpu() if parts else torch.zeros(0, dtype=dtype)


def match_saes(small: SAE, large: SAE, floor: float = EDGE_FLOOR, device: torch.device | None = None) -> Matching:
    """Match two SAEs of a family (checked), on `device` (the SAEs' own when None)."""
    check_pair(small, large)
    dev = device or large.device
    return match_decoders(small.W_dec.detach().to(dev), large.W_dec.detach().to(dev), floor)


@dataclass(frozen=True)
class Component:
    """S latents and the L latents that reconstruct them, joined by edges above the threshold."""

    small: tuple[int, ...]
    large: tuple[int, ...]

    @property
    def kind(self) -> ComponentKind:
        one_s, one_l = len(self.small) == 1, len(self.large) == 1
        if one_s and one_l:
            return "1→1"
        if one_s:
            return "1→n"
        return "n→1" if one_l else "n→m"


@dataclass
class Classification:
    """Novel, reconstruction and dropped latents of a pair, and its components, at one threshold."""

    threshold: float
    novel: Tensor  # [n_novel]
    """L latents with no S partner at or above the threshold."""
    dropped: Tensor  # [n_dropped]
    """S latents with no L partner at or above the threshold."""
    dead_small: Tensor  # [n_dead_s]
    dead_large: Tensor  # [n_dead_l]
    large_best: Tensor  # [n_l] each L latent's best S partner (at any cosine)
    large_cos: Tensor  # [n_l]
    small_best: Tensor  # [n_s] each S latent's best L partner
    small_cos: Tensor  # [n_s]
    components: list[Component]
    n_small: int
    n_large: int

    @property
    def n_reconstruction(self) -> int:
        return self.n_large - len(self.novel) - len(self.dead_large)

    @cached_property
    def by_small(self) -> dict[int, Component]:
        """The component of each matched S latent."""
        return {j: c for c in self.components for j in c.small}

    @cached_property
    def by_large(self) -> dict[int, Component]:
        """The component of each reconstruction L latent."""
        return {i: c for c in self.components for i in c.large}

    def summary(self) -> dict[str, float | int]:
        kinds = Counter(c.kind for c in self.components)
        return {
            "small latents": self.n_small,
            "large latents": self.n_large,
            "reconstruction": self.n_reconstruction,
            "novel": len(self.novel),
            "novel fraction": len(self.novel) / max(1, self.n_large - len(self.dead_large)),
            "dropped small": len(self.dropped),
            "dead small": len(self.dead_small),
            "dead large": len(self.dead_large),
            "components": len(self.components),
            **{kind: kinds.get(kind, 0) for kind in ("1→1", "1→n", "n→1", "n→m")},
        }


def _by_label(nodes: np.ndarray, labels: np.ndarray) -> list[tuple[int, ...]]:
    """`nodes` (ascending) grouped by `labels[nodes]`, the groups in label order: a sort and one slice per group,
    where a loop over the nodes took a second a view at the paper's sizes."""
    ordered = nodes[np.argsort(labels[nodes], kind="stable")]
    cuts = np.flatnonzero(np.diff(labels[ordered])) + 1
    listed = ordered.tolist()
    bounds = [0, *cuts.tolist(), len(listed)]
    return [tuple(listed[start:end]) for start, end in itertools.pairwise(bounds) if end > start]


def classify(
    matching: Matching,
    threshold: float = DEFAULT_THRESHOLD,
    dead_small: Tensor | None = None,
    dead_large: Tensor | None = None,
) -> Classification:
    """Novel/reconstruction split and components at `threshold` (at or above the matching's floor).

    `dead_small [n_s]`, `dead_large [n_l]`: bool masks of latents that never fire (None: all live)."""
    if threshold < matching.floor - 1e-9:
        raise ValueError(
            f"Threshold {threshold} is below the stored edge floor {matching.floor}; rematch with a lower floor."
        )
    n_s, n_l = matching.n_small, matching.n_large
    dead_s = np.zeros(n_s, dtype=bool) if dead_small is None else dead_small.numpy()
    dead_l = np.zeros(n_l, dtype=bool) if dead_large is None else dead_large.numpy()
    keep = (matching.edge_cos >= threshold).numpy()
    keep &= ~dead_s[matching.edge_small.numpy()] & ~dead_l[matching.edge_large.numpy()]
    es, el = matching.edge_small.numpy()[keep], matching.edge_large.numpy()[keep]
    graph = coo_matrix((np.ones(len(es)), (es, el + n_s)), shape=(n_s + n_l, n_s + n_l))
    _, labels = connected_components(graph, directed=False)
    has_edge = np.zeros(n_s + n_l, dtype=bool)
    has_edge[es] = True
    has_edge[el + n_s] = True
    # Every component joins at least one S and one L latent: each side's latents, grouped by component label (in
    # ascending order within one), pair up label for label. Components come in order of their first S latent.
    small, large = (
        _by_label(np.flatnonzero(has_edge[:n_s]), labels[:n_s]),
        _by_label(np.flatnonzero(has_edge[n_s:]), labels[n_s:]),
    )
    components = sorted((Component(sm, lg) for sm, lg in zip(small, large, strict=True)), key=lambda c: c.small[0])
    return Classification(
        threshold=threshold,
        novel=torch.from_numpy(np.flatnonzero(~has_edge[n_s:] & ~dead_l)),
        dropped=torch.from_numpy(np.flatnonzero(~has_edge[:n_s] & ~dead_s)),
        dead_small=torch.from_numpy(np.flatnonzero(dead_s)),
        dead_large=torch.from_numpy(np.flatnonzero(dead_l)),
        large_best=matching.large_best,
        large_cos=matching.large_cos,
        small_best=matching.small_best,
        small_cos=matching.small_cos,
        components=components,
        n_small=n_s,
        n_large=n_l,
    )
