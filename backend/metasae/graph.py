"""Layout of the related-latents graph: a latent, its strongest meta-latents, their other top members."""

import math
from dataclasses import dataclass

from backend.metasae.decompose import Decompositions


@dataclass(frozen=True)
class Node:
    kind: str
    """"latent" (the card's own), "meta" or "member"."""
    index: int
    x: float
    y: float
    weight: float


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[tuple[int, int, float]]
    """(node position, node position, activation)."""


def related_graph(
    table: Decompositions, latent: int, metas: int = 5, members: int = 5, threshold: float | None = None
) -> Graph:
    """Centre: the latent; first ring: its top meta-latents; outer ring: their other strongest members."""
    nodes = [Node("latent", latent, 0.0, 0.0, 1.0)]
    edges: list[tuple[int, int, float]] = []
    top = table.of_latent(latent, threshold)[:metas]
    for i, (meta, act) in enumerate(top):
        angle = 2 * math.pi * i / max(len(top), 1)
        nodes.append(Node("meta", meta, math.cos(angle), math.sin(angle), act))
        meta_pos = len(nodes) - 1
        edges.append((0, meta_pos, act))
        others = [(m, v) for m, v in table.members(meta, threshold) if m != latent][:members]
        for j, (other, value) in enumerate(others):
            spread = (j - (len(others) - 1) / 2) * 0.35 / max(len(top), 1) * 2
            nodes.append(Node("member", other, 2.2 * math.cos(angle + spread), 2.2 * math.sin(angle + spread), value))
            edges.append((meta_pos, len(nodes) - 1, value))
    return Graph(nodes, edges)
