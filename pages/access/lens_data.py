"""The pages' cached reads of the canonical-units lenses (backend/lenses/) and the tables joined from them, keyed
on one stamp of everything a lens reads; like pages/access/data.py, the door to stored data for what it covers."""

from collections.abc import Callable

import pandas as pd

from backend.core.errors import AtlasError
from backend.lenses.profile import (
    absorption_letters,
    facet_rows,
    family_lenses,
    latent_profiles,
    missing_lenses,
    profile_badges,
)
from backend.pipeline.artifacts import release_lenses
from backend.stitching.family import PairMatching
from pages.access.data import index_stamp, latent_atomicity, latent_table, meta_stamp, sae_stamp
from pages.access.keyed import keyed, memo_stamp
from pages.access.state import catalog


def _lenses_stamp(release_id: str, *_: object) -> tuple:
    return _release_lenses_stamp(release_id)


@memo_stamp
def _release_lenses_stamp(release_id: str) -> tuple:
    """What a canonicality profile reads, cheap enough for every rerun: the lenses' stored files by size and time
    (no lens key is computed: a lens's key verifies whole indexes), and the stamps of what lenses are computed from
    (every SAE's and second seed's weights, every index, the matchings, the meta-SAEs), so a recomputed lens or a
    rebuilt input changes it."""
    release = catalog()[release_id]
    members = (*release.sae_ids, *(seed.id for seed in release.second_seeds))
    stamps = [_stamp_or_missing(sae_stamp, release_id, member) for member in members]
    stamps += [_stamp_or_missing(index_stamp, release_id, sae_id) for sae_id in release.sae_ids]
    stamps += [_stamp_or_missing(PairMatching(release, *pair).stamp) for pair in release.neighbour_pairs]
    stamps += [_stamp_or_missing(meta_stamp, release_id, meta.id) for meta in release.meta_saes]
    return (*stamps, *(lens.stored_stamp() for lens in release_lenses(release)))


def _stamp_or_missing(stamp: Callable[..., object], *args: str) -> object:
    """`stamp(*args)`, or "missing" while what it is keyed on is still being built."""
    try:
        return stamp(*args)
    except AtlasError:
        return "missing"


# The lens tables are shared resources (read-only for callers): one table per SAE, not an unpickled copy per call.
@keyed(_lenses_stamp, resource=True, max_entries=8, show_spinner="Joining every canonical-units lens…")
def canonicality(release_id: str, sae_id: str) -> pd.DataFrame:
    """One row per latent of `sae_id`, every lens as columns (backend/lenses/profile.py)."""
    release = catalog()[release_id]
    return latent_profiles(release, sae_id, release_lenses(release))


@keyed(_lenses_stamp, resource=True, max_entries=4)
def family_canonicality(release_id: str) -> pd.DataFrame:
    """One row per SAE: each lens's family figure."""
    release = catalog()[release_id]
    return family_lenses(release, release_lenses(release))


@keyed(_lenses_stamp, max_entries=8)
def lenses_missing(release_id: str, sae_id: str) -> dict[str, str]:
    """The lenses `sae_id` does not have yet, each with why and how to get it."""
    release = catalog()[release_id]
    return missing_lenses(release, sae_id, release_lenses(release))


@keyed(_lenses_stamp, resource=True, max_entries=8)
def absorption_of(release_id: str, sae_id: str) -> pd.DataFrame | None:
    """The SAE's first-letter absorption table (one row per letter), None before it is computed."""
    release = catalog()[release_id]
    return absorption_letters(release_lenses(release), release, sae_id)


@keyed(_lenses_stamp, resource=True, max_entries=8)
def facets_of(release_id: str, sae_id: str) -> pd.DataFrame | None:
    """Every latent's facets (latent, facet, share, label, examples), None before they are computed."""
    release = catalog()[release_id]
    return facet_rows(release_lenses(release), release, sae_id)


@keyed(_lenses_stamp, max_entries=64)
def badges(release_id: str, sae_id: str, latent: int) -> list[tuple[str, str, str]]:
    """(lens, text, colour) of every badge one latent's profile has."""
    release = catalog()[release_id]
    row = canonicality(release_id, sae_id).iloc[latent]
    return profile_badges(release, sae_id, row, release_lenses(release))


def _overview_stamp(release_id: str, sae_id: str, meta_id: str | None) -> tuple:
    meta = meta_stamp(release_id, meta_id) if meta_id else None
    return index_stamp(release_id, sae_id), meta, _release_lenses_stamp(release_id)


@keyed(_overview_stamp, resource=True, max_entries=4)
def overview_table(release_id: str, sae_id: str, meta_id: str | None) -> pd.DataFrame:
    """The overview's table of every latent (shared, read-only): statistics and label, then its meta-SAE atomicity
    (with a meta-SAE) and its seed partner (once the seed lens is computed); joined once, not on every rerun."""
    table = latent_table(release_id, sae_id)
    if meta_id:
        table = table.merge(latent_atomicity(release_id, meta_id), on="latent", how="left")
    lenses = canonicality(release_id, sae_id)
    if lenses["seed_partner"].notna().any():
        seeds = lenses[["latent", "seed_partner", "seed_cosine", "seed_shared"]]
        table = table.merge(seeds.rename(columns=lambda c: c.replace("_", " ")), on="latent", how="left")
    return table
