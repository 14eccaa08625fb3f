"""The pages' cached reads of the canonical-units lenses (backend/lenses/) and the tables joined from them. Each
reads the lens files and, through them, what lenses are computed from: one stamp names all of it (`stamps.lenses`)."""

import pandas as pd

from backend.core.errors import AtlasError
from backend.lenses.compare import meta_row, side_by_side, with_quality
from backend.lenses.profile import (
    absorption_letters,
    facet_rows,
    family_lenses,
    family_partners,
    latent_profiles,
    missing_lenses,
    profile_badges,
)
from backend.pipeline.artifacts import release_lenses
from backend.sources.catalog import families_of
from backend.stitching.curves import CurveConfig
from pages.access import stamps
from pages.access.indexes import decomposition_meaning, latent_table
from pages.access.keyed import cached
from pages.access.saes import latent_atomicity, member_metrics
from pages.access.stamps import release
from pages.access.stitching import stitching_curves


def _lenses(release_id: str, *_: object) -> tuple:
    return stamps.lenses(release_id)


# The lens tables are shared resources (read-only for callers): one table per SAE, not an unpickled copy per call.
@cached(_lenses, shared=True, max_entries=8, spinner="Joining every canonical-units lens…")
def canonicality(release_id: str, sae_id: str) -> pd.DataFrame:
    """One row per latent of `sae_id`, every lens as columns (backend/lenses/profile.py)."""
    entry = release(release_id)
    return latent_profiles(entry, sae_id, release_lenses(entry))


@cached(_lenses, shared=True, max_entries=4)
def family_canonicality(release_id: str) -> pd.DataFrame:
    """One row per SAE: each lens's family figure."""
    entry = release(release_id)
    return family_lenses(entry, release_lenses(entry))


@cached(_lenses, max_entries=8)
def lenses_missing(release_id: str, sae_id: str) -> dict[str, str]:
    """The lenses `sae_id` does not have yet, each with why and how to get it."""
    entry = release(release_id)
    return missing_lenses(entry, sae_id, release_lenses(entry))


@cached(_lenses, shared=True, max_entries=8)
def absorption_of(release_id: str, sae_id: str) -> pd.DataFrame | None:
    """The SAE's first-letter absorption table (one row per letter), None before it is computed."""
    entry = release(release_id)
    return absorption_letters(release_lenses(entry), entry, sae_id)


@cached(_lenses, shared=True, max_entries=8)
def facets_of(release_id: str, sae_id: str) -> pd.DataFrame | None:
    """Every latent's facets (latent, facet, share, label, examples), None before they are computed."""
    entry = release(release_id)
    return facet_rows(release_lenses(entry), entry, sae_id)


@cached(_lenses, max_entries=64)
def badges(release_id: str, sae_id: str, latent: int) -> list[tuple[str, str, str]]:
    """(lens, text, colour) of every badge one latent's profile has."""
    entry = release(release_id)
    row = canonicality(release_id, sae_id).iloc[latent]
    return profile_badges(entry, sae_id, row, release_lenses(entry))


@cached(_lenses, max_entries=64)
def nearest_in_families(release_id: str, sae_id: str, latent: int) -> list[tuple[str, str, int, float]]:
    """One latent's nearest latent in each other family of its data: (release, SAE, latent, cosine), closest first."""
    entry = release(release_id)
    return family_partners(entry, sae_id, latent, release_lenses(entry))


@cached(shared=True, max_entries=4)
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


def families_compared(release_id: str) -> pd.DataFrame:
    """Every family trained from the same data as `release_id` side by side, one row per family and size
    (backend/lenses/compare.py; empty when it has no other)."""
    tables = {}
    for family in families_of(release(release_id)):
        table = family_canonicality(family.id)
        metrics = {sae_id: member_metrics(family.id, sae_id) or {} for sae_id in table.get("sae", [])}
        tables[family.family_name] = with_quality(table, metrics, stitching_curves(family.id, CurveConfig()))
    return side_by_side(tables)


def families_meta(release_id: str) -> pd.DataFrame:
    """Each family's meta-SAE over its largest SAE (backend/lenses/compare.py `META`), for the families trained from
    the same data as `release_id`; NaN where a meta-SAE is still being built."""
    rows = []
    for family in families_of(release(release_id)):
        largest = family.sae_ids[-1]
        meta = family.primary_meta(largest)
        metrics = (member_metrics(family.id, meta.id) or {}) if meta is not None else {}
        try:
            ratio = decomposition_meaning(family.id, largest, meta.id).judgement.ratio if metrics and meta else None
        except AtlasError:  # its index or meta-SAE is still being built
            ratio = None
        rows.append(meta_row(family.family_name, family.sae(largest).d_sae or 0, metrics, ratio))
    return pd.DataFrame(rows)
