"""Every artifact a release can have on this machine, in one list: what publish copies and the status panel lists."""

from backend.core.artifacts import Artifact
from backend.core.errors import AtlasError
from backend.explore.latent_map import LatentMap
from backend.index.artifact import LatentIndex
from backend.pipeline.build import plan, read_summary
from backend.pipeline.profiles import PROFILES
from backend.polysemy.bench import Predictions
from backend.sources.catalog import Release
from backend.stitching.family import Curves, PairMatching


def release_artifacts(release: Release) -> list[Artifact]:
    """A built release's build plan (at the profile it was built with), or an added release's indexes, matchings,
    curves and maps; then the probe results found on disk (probe sets are the user's, so they are not planned)."""
    if release.built:
        summary = read_summary(release)
        if not summary.get("complete"):
            raise AtlasError(f"{release.id} is still being built (or its build stopped); finish it with `build` first.")
        planned = plan(release, PROFILES[summary["profile"]]).artifacts
    else:
        planned = [LatentIndex.served(release, sae_id) for sae_id in release.sae_ids]
        planned += [PairMatching(release, small, large) for small, large in release.neighbour_pairs]
        planned += [Curves(release), *(LatentMap(release, sae_id) for sae_id in release.sae_ids)]
    return [*planned, *Predictions.stored(release)]
