"""A latent's lineage across a family: the tree of latents it splits from and into, size by size.

Edges join latents of neighbouring sizes whose decoder cosine is at or above a threshold; they are
read from the stored pair matchings (every edge down to `EDGE_FLOOR` is kept there), so no decoder
is touched. The tree holds the latent's ancestors (smaller sizes, down as far as edges reach), its
siblings (the other latents its parents split into) and its descendants (larger sizes), not the
cousins: token-level latents form dense clusters across sizes, and following every cousin turns
their trees into hairballs. A node with several children is a split (1→n), one with several
parents a merge (n→1). Dead latents (never firing) are left out, as in classification. Each size
keeps at most `per_level` nodes, strongest edges first; the latent itself is always kept.
"""

from dataclasses import dataclass, field

import numpy as np

from backend.core.errors import AtlasError
from backend.stitching.matching import Matching

PER_LEVEL = 12


@dataclass(frozen=True)
class Node:
    level: int
    """Position of its SAE in the family, smallest first."""
    latent: int


@dataclass(frozen=True)
class Lineage:
    sae_ids: list[str]
    nodes: list[Node]
    edges: list[tuple[int, int, float]]
    """(parent node, child node, cosine): parent in the smaller SAE, indices into `nodes`."""
    current: int
    """Index of the latent the lineage was asked for."""
    hidden: dict[int, int] = field(default_factory=dict)
    """Per level, latents left out by the `per_level` cap."""

    def children(self, node: int) -> list[int]:
        return [child for parent, child, _ in self.edges if parent == node]

    def parents(self, node: int) -> list[int]:
        return [parent for parent, child, _ in self.edges if child == node]

    def shape(self, node: int) -> str:
        """ "1→n" for a split, "n→1" for a merge, "n→m" for both, "" otherwise."""
        split, merge = len(self.children(node)) > 1, len(self.parents(node)) > 1
        return {(True, False): "1→n", (False, True): "n→1", (True, True): "n→m"}.get((split, merge), "")


@dataclass(frozen=True)
class _Edges:
    """One neighbouring pair's live edges at the threshold, as numpy arrays."""

    small: np.ndarray
    large: np.ndarray
    cos: np.ndarray

    @classmethod
    def of(cls, matching: Matching, threshold: float) -> "_Edges":
        small, large = matching.edge_small.numpy(), matching.edge_large.numpy()
        keep = matching.edge_cos.numpy() >= threshold
        for dead, ends in ((matching.dead_small, small), (matching.dead_large, large)):
            if dead is not None:
                keep &= ~dead.numpy()[ends]
        return cls(small[keep], large[keep], matching.edge_cos.numpy()[keep])


def _strongest(ends: np.ndarray, cos: np.ndarray, keep: set[int], cap: int) -> tuple[list[int], int]:
    """The distinct latents of `ends`, those in `keep` first, then by their best edge; and how many were left out."""
    best: dict[int, float] = {}
    for latent, value in zip(ends.tolist(), cos.tolist(), strict=True):
        best[latent] = max(value, best.get(latent, -1.0))
    ranked = sorted(best, key=lambda latent: (latent not in keep, -best[latent]))
    chosen = sorted(set(ranked[:cap]) | (keep & set(best)))
    return chosen, len(best) - len(chosen)


def lineage(
    sae_ids: list[str],
    matchings: list[Matching],
    sae_id: str,
    latent: int,
    threshold: float,
    per_level: int = PER_LEVEL,
) -> Lineage:
    """The lineage of `latent` of SAE `sae_id`; `matchings[i]` pairs `sae_ids[i]` with `sae_ids[i + 1]`."""
    if len(matchings) != len(sae_ids) - 1:
        raise AtlasError(f"A family of {len(sae_ids)} SAEs needs {len(sae_ids) - 1} pair matchings.")
    if sae_id not in sae_ids:
        raise AtlasError(f"SAE {sae_id!r} is not in this family.")
    level = sae_ids.index(sae_id)
    edges = [_Edges.of(m, threshold) for m in matchings]
    levels: dict[int, list[int]] = {level: [latent]}
    hidden: dict[int, int] = {}

    def step(pair: _Edges, found: np.ndarray, ends: np.ndarray, into: int, keep: set[int]) -> bool:
        chosen, left = _strongest(ends[found], pair.cos[found], keep, per_level)
        if left:
            hidden[into] = left
        if chosen:
            levels[into] = chosen
        return bool(chosen)

    for lower in range(level - 1, -1, -1):
        pair = edges[lower]
        if not step(pair, np.isin(pair.large, levels[lower + 1]), pair.small, lower, set()):
            break
    if level > 0 and level - 1 in levels:
        pair = edges[level - 1]
        step(pair, np.isin(pair.small, levels[level - 1]), pair.large, level, {latent})
    for upper in range(level + 1, len(sae_ids)):
        pair = edges[upper - 1]
        below = levels[upper - 1] if upper - 1 != level else [latent]
        if not step(pair, np.isin(pair.small, below), pair.large, upper, set()):
            break
    return _assemble(sae_ids, levels, edges, level, latent, hidden)


def _assemble(
    sae_ids: list[str],
    levels: dict[int, list[int]],
    edges: list[_Edges],
    level: int,
    latent: int,
    hidden: dict[int, int],
) -> Lineage:
    nodes = [Node(lv, lat) for lv in sorted(levels) for lat in levels[lv]]
    index = {node: i for i, node in enumerate(nodes)}
    links = []
    for lv in sorted(levels):
        if lv + 1 not in levels:
            continue
        pair = edges[lv]
        inside = np.isin(pair.small, levels[lv]) & np.isin(pair.large, levels[lv + 1])
        for small, large, cos in zip(pair.small[inside], pair.large[inside], pair.cos[inside], strict=True):
            links.append((index[Node(lv, int(small))], index[Node(lv + 1, int(large))], float(cos)))
    return Lineage(sae_ids, nodes, links, index[Node(level, latent)], hidden)


def layout(tree: Lineage) -> list[tuple[float, float]]:
    """(x, y) of every node for drawing: one row per size, smallest on top (y = -level); within a row,
    nodes sit in the order of their parents' mean x (the row above), so edges cross as little as a
    one-pass barycentre ordering allows, and each row is centred on 0."""
    positions: dict[int, tuple[float, float]] = {}
    for level in sorted({node.level for node in tree.nodes}):
        row = [i for i, node in enumerate(tree.nodes) if node.level == level]

        def centre(i: int) -> tuple[float, int]:
            above = [positions[p][0] for p in tree.parents(i) if p in positions]
            return (sum(above) / len(above) if above else float("inf"), tree.nodes[i].latent)

        row.sort(key=centre)
        for slot, i in enumerate(row):
            positions[i] = (slot - (len(row) - 1) / 2, -float(level))
    return [positions[i] for i in range(len(tree.nodes))]
