"""Is this latent a canonical unit? Every lens of `backend.lenses.kinds.LENSES` joined on one latent
(`latent_profiles`) and per size (`family_lenses`), from the stored artifacts; a lens that is not there gives empty
columns and a reason (`missing_lenses`), never an error. Nothing here names a lens: each says its own part.

Columns of `latent_profiles` (one row per latent of one SAE), from the built-in lenses:
- novel: no partner at the stitching threshold in the next smaller SAE (None for the smallest);
  kept: a partner in the next larger SAE (None for the largest);
- seed_partner, seed_cosine (decoder), seed_encoder_cosine, seed_shared: its partner in the second seed;
- meta_cosine, meta_parts: atomicity, its meta-SAE's reconstruction (SAEs with a meta-SAE);
- absorption: "main latent of 'l'" or "absorbs 'l' (n words)";
- split: the verdict on its split into the next larger SAE ("partition", "hole", "overlap"; empty when it does
  not split), split_coverage; parent_given_child: the highest P(parent | it) over its edges from the smaller SAE;
- facets, top_facet_share, top_facet: how many kinds of context it fires in.
"""

import numpy as np
import pandas as pd

from backend.core.artifacts import Artifact
from backend.core.errors import AtlasError
from backend.lenses.kinds import LENSES
from backend.lenses.kinds.absorption import Absorption
from backend.lenses.kinds.facets import Facets
from backend.lenses.kinds.families import partners
from backend.lenses.lens import At, Badge, artifacts_of
from backend.lenses.source import LensSource
from backend.models.formats import is_dead
from backend.models.loading import sae_outline
from backend.sources.release import Release


def lens_artifacts(release: Release, source: LensSource) -> list[Artifact]:
    """Every lens artifact the release can have, in build order."""
    return artifacts_of(LENSES, release, source)


def latent_profiles(release: Release, sae_id: str, stored: list[Artifact]) -> pd.DataFrame:
    """One row per latent of `sae_id`: every lens's columns, empty where it is missing (see the module docstring)."""
    sae = sae_outline(release, sae_id)
    frame = pd.DataFrame({"latent": np.arange(sae.cfg.d_sae)})
    at = At(release, sae_id, tuple(stored))
    for lens in LENSES:
        for column, empty in lens.columns.items():
            frame[column] = empty
        lens.fill(frame, at)
    frame["dead"] = is_dead(sae.log10_density).numpy() if sae.log10_density is not None else False
    return frame


def profile_badges(release: Release, sae_id: str, row: pd.Series, stored: list[Artifact]) -> list[tuple[str, str, str]]:
    """(lens, badge text, colour) of every lens one latent's profile row has."""
    at = At(release, sae_id, tuple(stored))
    found: list[tuple[str, Badge]] = [(lens.name, badge) for lens in LENSES for badge in lens.badges(row, at)]
    return [(name, text, colour) for name, (text, colour) in found]


def absorption_letters(stored: list[Artifact], release: Release, sae_id: str) -> pd.DataFrame | None:
    """The SAE's stored first-letter absorption table (one row per letter); None before it is computed."""
    found = At(release, sae_id, tuple(stored)).read(Absorption, sae_id=sae_id)
    return found if isinstance(found, pd.DataFrame) else None


def facet_rows(stored: list[Artifact], release: Release, sae_id: str) -> pd.DataFrame | None:
    """The SAE's stored facets (latent, facet, share, label, examples); None before they are computed."""
    found = At(release, sae_id, tuple(stored)).read(Facets, sae_id=sae_id)
    return found if isinstance(found, pd.DataFrame) else None


def family_partners(
    release: Release, sae_id: str, latent: int, stored: list[Artifact]
) -> list[tuple[str, str, int, float]]:
    """`latent`'s nearest latent in each other family trained from the same data, closest first: (release id, SAE id,
    latent, decoder cosine); [] before the cross-family matches are computed."""
    found = partners(At(release, sae_id, tuple(stored)), latent)
    return [(other.id, other_sae, partner, cosine) for other, other_sae, partner, cosine in found]


def missing_lenses(release: Release, sae_id: str, stored: list[Artifact]) -> dict[str, str]:
    """The lenses that do not exist (yet) for `sae_id`, each with why and how to get it."""
    at = At(release, sae_id, tuple(stored))
    reasons = {lens.name: lens.missing(at) for lens in LENSES}
    return {name: reason for name, reason in reasons.items() if reason is not None}


def family_lenses(release: Release, stored: list[Artifact]) -> pd.DataFrame:
    """One row per SAE: each lens's family figures (NaN where the lens is missing)."""
    table = []
    for sae_id in release.sae_ids:
        try:
            sae = sae_outline(release, sae_id)
        except AtlasError:  # still being built: its row comes when it is
            continue
        row: dict[str, object] = {"sae": sae_id, "latents": sae.cfg.d_sae}
        at = At(release, sae_id, tuple(stored))
        for lens in LENSES:
            row.update(lens.family(at, sae))
        table.append(row)
    return pd.DataFrame(table)


def family_findings(family: pd.DataFrame) -> list[str]:
    """One sentence per lens on what `family_lenses` shows against size, with its figures (and the published one
    where there is one), for the page to state plainly."""
    said = (lens.finding(family) for lens in LENSES)
    return [sentence for sentence in said if sentence is not None]


def filter_column(name: str) -> str:
    """The column a filter of `latent_filters` reads ("not seed_shared" reads seed_shared)."""
    for negation in ("not ", "no "):
        if name.startswith(negation):
            return name[len(negation) :]
    return name


def latent_filters(table: pd.DataFrame) -> dict[str, pd.Series]:
    """The filters `latent_profiles`' table offers, each a row mask: a yes/no column as itself and "not <column>"
    (a latent its lens has not measured is in neither), a verdict column (text, empty where there is none) as
    "<column>" and "no <column>". Only filters that keep some rows and drop others are offered."""
    masks: dict[str, pd.Series] = {}
    for name in table.columns.drop(["latent", "dead"], errors="ignore"):
        column = table[name]
        values = column.dropna().unique()
        if len(values) and all(isinstance(value, bool | np.bool_) for value in values):
            masks[name] = column.eq(True)
            masks[f"not {name}"] = column.eq(False)
        elif pd.api.types.is_string_dtype(column):
            masks[name] = column.fillna("").ne("")
            masks[f"no {name}"] = ~masks[name]
    return {name: mask for name, mask in masks.items() if 0 < int(mask.sum()) < len(table)}
