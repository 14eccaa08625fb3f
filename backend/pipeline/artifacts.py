"""Every artifact a release can have on this machine, in one list: what publish copies and the build panel lists."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from backend.core.artifacts import Artifact
from backend.core.errors import AtlasError
from backend.explore.latent_map import LatentMap
from backend.explore.meaning import meaning
from backend.index.artifact import LatentIndex
from backend.lenses.compare import meta_row, side_by_side, with_quality
from backend.lenses.profile import family_lenses, lens_artifacts
from backend.lenses.source import LensData, LensSource, built_source, release_source
from backend.metasae.decompose import build_decompositions
from backend.models.formats import read_metrics
from backend.models.language import load_language_model
from backend.models.loading import load_meta_sae, load_sae
from backend.pipeline.build import plan, read_summary
from backend.pipeline.profiles import PROFILES
from backend.pipeline.progress import read_progress
from backend.polysemy.bench import Predictions
from backend.sources.catalog import families_of
from backend.sources.release import Release
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching


def release_artifacts(release: Release, complete: bool = True) -> list[Artifact]:
    """A built release's build plan (at the profile it is built with), or an added release's indexes, matchings,
    curves and maps; then the probe results found on disk (probe sets are the user's, so they are not planned).
    With `complete`, a built release whose build has not finished is refused (publish copies whole releases)."""
    if release.built:
        summary, progress = read_summary(release), read_progress(release)
        if complete and not summary.get("complete"):
            raise AtlasError(f"{release.id} is still being built (or its build stopped); finish it with `build` first.")
        profile = summary.get("profile") or (progress.profile if progress else "default")
        planned = plan(release, PROFILES.get(profile, PROFILES["default"])).artifacts
    else:
        planned = [LatentIndex.served(release, sae_id) for sae_id in release.sae_ids]
        planned += [PairMatching(release, small, large) for small, large in release.neighbour_pairs]
        planned += [Curves(release), *(LatentMap(release, sae_id) for sae_id in release.sae_ids)]
        planned += release_lenses(release)
    return [*planned, *Predictions.stored(release)]


def release_lenses(release: Release) -> list[Artifact]:
    """The release's canonical-units lenses, to read (and, for a release not built here, to compute: `lenses`).
    No build plan is made: a built release's lenses are keyed as its build keys them, and computed only by it."""
    if release.built:
        return lens_artifacts(release, built_source(release, _built_by_build(release)))
    if release.published is not None:
        return lens_artifacts(release, LensSource.served())
    lm = lambda: load_language_model(release.model)  # noqa: E731 - loaded only if a lens is computed
    return lens_artifacts(release, release_source(release, lm))


def families_table(release: Release) -> pd.DataFrame:
    """Every family trained from the same data as `release` side by side, one row per family and size (the lenses
    compared and each SAE's quality, backend/lenses/compare.py); `release` alone when it has no other."""
    tables = {}
    for family in families_of(release) or [release]:
        metrics = (
            {e.id: read_metrics(Path(e.location.path), e.prefix) or {} for e in family.saes} if family.built else {}
        )
        table = family_lenses(family, release_lenses(family))
        tables[family.family_name] = with_quality(table, metrics, Curves(family, CurveConfig()).read())
    return side_by_side(tables)


def families_meta(release: Release) -> pd.DataFrame:
    """Each family's meta-SAE over its largest SAE (`compare.META`), for the families trained from `release`'s data."""
    rows = []
    for family in families_of(release):
        largest = family.sae_ids[-1]
        meta = family.primary_meta(largest)
        metrics = (read_metrics(Path(meta.location.path)) or {}) if meta is not None else {}
        ratio = None
        if metrics:
            sae = load_sae(family, largest).sae
            meta_sae = load_meta_sae(family, meta.id, sae)  # type: ignore[union-attr]
            found = meaning(
                LatentIndex.served(family, largest).reader(), build_decompositions(meta_sae, sae), meta_sae, sae
            )
            ratio = found.judgement.ratio
        rows.append(meta_row(family.family_name, family.sae(largest).d_sae or 0, metrics, ratio))
    return pd.DataFrame(rows)


def _built_by_build(release: Release) -> Callable[[], LensData]:
    def refuse() -> LensData:
        raise AtlasError(f"The lenses of {release.id} are computed by its build: run `python -m backend build`.")

    return refuse
