"""The pages' cached reads of a family's stitching: each neighbouring pair's matching and novel/reconstruction split,
the curves, a latent's lineage and closest latents in smaller SAEs, and the latent maps coloured by them."""

import numpy as np
import pandas as pd
import torch

from backend.explore.latent_map import LatentMap, map_table, novelty, top_meta_latents
from backend.models.formats import DENSITY_FLOOR
from backend.models.geometry import best_matches, unit_rows
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching, pair_classification
from backend.stitching.lineage import Lineage, lineage
from backend.stitching.matching import Classification, Matching
from pages.access import stamps
from pages.access.indexes import latent_labels, latent_table, meta_names
from pages.access.keyed import cached
from pages.access.saes import decoder, decompositions
from pages.access.stamps import release


@cached(
    lambda release_id, small, large, _threshold: stamps.matching(release_id, small, large), shared=True, max_entries=16
)
def classification(release_id: str, small: str, large: str, threshold: float) -> Classification | None:
    """The pair's novel/reconstruction split from its stored matching; None until it is computed."""
    return pair_classification(release(release_id), small, large, threshold)


@cached(stamps.curves, max_entries=8)
def stitching_curves(release_id: str, settings: CurveConfig) -> pd.DataFrame | None:
    """The family's curves for these settings; None until they are computed."""
    return Curves(release(release_id), settings).read()


@cached(max_entries=64)
def closest_in_smaller(release_id: str, sae_id: str, latent: int) -> dict[str, list[tuple[int, float]]]:
    """For each smaller SAE of the family, the latents closest (decoder cosine) to this one."""
    ids = release(release_id).sae_ids
    row = decoder(release_id, sae_id)[latent]
    return best_matches(row, {other: decoder(release_id, other) for other in ids[: ids.index(sae_id)]})


def closest_members(
    release_id: str, sae_id: str, latent: int, other: str, members: list[int]
) -> list[tuple[int, float]]:
    """`members` of SAE `other` with their decoder cosine to this latent, closest first."""
    row = unit_rows(decoder(release_id, sae_id)[latent].float().unsqueeze(0))[0]
    cosines = unit_rows(decoder(release_id, other)[torch.tensor(members, dtype=torch.long)].float()) @ row
    return sorted(zip(members, cosines.tolist(), strict=True), key=lambda pair: -pair[1])


@cached(stamps.matchings, shared=True, max_entries=2, spinner="Matching the decoders of neighbouring sizes…")
def _family_matchings(release_id: str) -> list[Matching]:
    entry = release(release_id)
    return [PairMatching(entry, small, large).get() for small, large in entry.neighbour_pairs]


def family_lineage(release_id: str, sae_id: str, latent: int, threshold: float) -> Lineage:
    """The latent's lineage from the stored matchings of every neighbouring pair (computed and stored if missing)."""
    return lineage(release(release_id).sae_ids, _family_matchings(release_id), sae_id, latent, threshold)


@cached(
    lambda release_id, sae_id, *_: stamps.latent_map(release_id, sae_id), max_entries=4, spinner="Preparing the map…"
)
def map_data(
    release_id: str, sae_id: str, meta_id: str | None, smaller: str | None, threshold: float
) -> pd.DataFrame | None:
    """The latent map with every available colouring; None until the map is computed."""
    coords = LatentMap(release(release_id), sae_id).read()
    if coords is None:
        return None
    labels = latent_labels(release_id, sae_id)
    density = None
    if labels is not None:
        density = np.log10(latent_table(release_id, sae_id)["density"].to_numpy().clip(DENSITY_FLOOR))
    top_meta = names = None
    if meta_id is not None:
        top_meta = top_meta_latents(decompositions(release_id, meta_id))
        names = meta_names(release_id, meta_id)
    found = classification(release_id, smaller, sae_id, threshold) if smaller else None
    return map_table(coords, labels, density, top_meta, names, novelty(found) if found else None)
