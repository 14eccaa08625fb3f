"""Lineage on a synthetic family with known splits and merges, matched by the real matcher."""

from itertools import pairwise

import pytest
import torch

from backend.core.errors import AtlasError
from backend.models.sae import SAE, SAEConfig
from backend.stitching.lineage import Lineage, lineage
from backend.stitching.matching import match_saes

D = 64


def with_decoder(rows: torch.Tensor) -> SAE:
    sae = SAE(SAEConfig(d_in=D, d_sae=len(rows)), device=torch.device("cpu"))
    with torch.no_grad():
        sae.W_dec.copy_(rows / rows.norm(dim=1, keepdim=True))
    return sae


def family() -> list[SAE]:
    """Three sizes over orthonormal atoms e0..: S0 latent 0 = e0 splits into S1 latents 0 and 1
    (e0 tilted towards e10 and e11); S1 latents 2 = e2 and 3 = e3 merge into S2 latent 0 = e2 + e3."""
    e = torch.eye(D)
    s0 = torch.stack([e[0], e[2] + e[3], e[4], e[5]])
    s1 = torch.stack([e[0] + 0.4 * e[10], e[0] + 0.4 * e[11], e[2], e[3], e[4], e[6]])
    s2 = torch.stack([e[2] + e[3], e[0] + 0.4 * e[10], e[0] + 0.4 * e[11], e[4], e[7], e[8], e[9], e[12]])
    return [with_decoder(rows) for rows in (s0, s1, s2)]


@pytest.fixture(scope="module")
def matchings() -> list:
    saes = family()
    return [match_saes(a, b) for a, b in pairwise(saes)]


IDS = ["4", "6", "8"]


def names(tree: Lineage) -> set[tuple[str, int]]:
    return {(tree.sae_ids[n.level], n.latent) for n in tree.nodes}


def test_a_split_is_recovered_from_the_smaller_latent(matchings: list) -> None:
    tree = lineage(IDS, matchings, "4", 0, threshold=0.6)
    assert names(tree) == {("4", 0), ("6", 0), ("6", 1), ("8", 1), ("8", 2)}
    assert tree.shape(tree.current) == "1→n"
    assert tree.nodes[tree.current].latent == 0


def test_a_child_sees_its_parent_and_sibling(matchings: list) -> None:
    tree = lineage(IDS, matchings, "6", 1, threshold=0.6)
    assert {("4", 0), ("6", 0), ("6", 1)} <= names(tree)
    assert [tree.nodes[p].latent for p in tree.parents(tree.current)] == [0]


def test_a_merge_is_recovered_from_the_larger_latent(matchings: list) -> None:
    tree = lineage(IDS, matchings, "8", 0, threshold=0.6)
    assert names(tree) == {("4", 1), ("6", 2), ("6", 3), ("8", 0)}
    assert tree.shape(tree.current) == "n→1"
    assert all(0.7 < cos < 0.71 for parent, child, cos in tree.edges if child == tree.current)


def test_the_threshold_cuts_edges(matchings: list) -> None:
    tree = lineage(IDS, matchings, "8", 0, threshold=0.75)
    assert names(tree) == {("8", 0)}
    assert tree.edges == []


def test_a_novel_latent_is_alone(matchings: list) -> None:
    tree = lineage(IDS, matchings, "8", 7, threshold=0.6)
    assert names(tree) == {("8", 7)}


def test_the_cap_keeps_the_path(matchings: list) -> None:
    tree = lineage(IDS, matchings, "6", 1, threshold=0.6, per_level=1)
    assert names(tree) == {("4", 0), ("6", 1), ("8", 2)}
    assert tree.hidden == {1: 1, 2: 1}


def test_a_wrong_family_is_refused(matchings: list) -> None:
    with pytest.raises(AtlasError, match="matchings"):
        lineage(["4", "6"], matchings, "4", 0, 0.7)
    with pytest.raises(AtlasError, match="not in this family"):
        lineage(IDS, matchings, "9", 0, 0.7)
