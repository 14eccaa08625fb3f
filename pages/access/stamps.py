"""What the pages' cached reads read from disk, each named by a stamp (pages/access/keyed.py): the catalog entry of a
release, an SAE's weights, an index, a pair's matching, the curves, a map, the lens files. Every stamp is an
artifact's own (backend/core/artifacts.py), so the app and the backend trust the same key; a cached read names the
one it reads directly (`cached(reads=...)`) and inherits those of the cached reads it calls."""

from collections.abc import Callable

from backend.core.errors import AtlasError
from backend.explore.latent_map import LatentMap
from backend.index.artifact import LatentIndex
from backend.models.loading import source_key
from backend.pipeline.artifacts import release_lenses
from backend.sources.release import Release
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching
from pages.access.keyed import MISSING, stamp
from pages.access.state import catalog


@stamp
def release(release_id: str) -> Release:
    """The release's catalog entry: a cached read that takes it is computed again when the catalog changes it (a
    meta-SAE registered, an SAE added)."""
    return catalog()[release_id]


@stamp
def weights(release_id: str, member_id: str) -> str:
    """The digest of an SAE's (second seed's, meta-SAE's) weights."""
    return source_key(release(release_id), member_id)


@stamp
def index(release_id: str, sae_id: str) -> tuple[str, str | None]:
    return LatentIndex.served(release(release_id), sae_id).stamp()


@stamp
def matching(release_id: str, small: str, large: str) -> tuple[str, str | None]:
    return PairMatching(release(release_id), small, large).stamp()


@stamp
def matchings(release_id: str) -> tuple:
    """Every neighbouring pair's matching."""
    return tuple(matching(release_id, *pair) for pair in release(release_id).neighbour_pairs)


@stamp
def curves(release_id: str, settings: CurveConfig) -> tuple[str, str | None]:
    return Curves(release(release_id), settings).stamp()


@stamp
def latent_map(release_id: str, sae_id: str) -> tuple[str, str | None]:
    return LatentMap(release(release_id), sae_id).stamp()


def _or_missing(read: Callable[..., object], *args: str) -> object:
    """`read(*args)`, or MISSING while what it reads is still being built."""
    try:
        return read(*args)
    except AtlasError:
        return MISSING


@stamp
def lenses(release_id: str) -> tuple:
    """What a canonicality profile reads: the lenses' stored files by size and time (no lens key is computed: a
    lens's key verifies whole indexes), and what lenses are computed from (every SAE's and second seed's weights,
    every index, the matchings, the meta-SAEs' weights), so a recomputed lens or a rebuilt input changes it."""
    entry = release(release_id)
    members = (*entry.sae_ids, *(seed.id for seed in entry.second_seeds), *(meta.id for meta in entry.meta_saes))
    found = [_or_missing(weights, release_id, member) for member in members]
    found += [_or_missing(index, release_id, sae_id) for sae_id in entry.sae_ids]
    found += [_or_missing(matchings, release_id)]
    return (*found, *(lens.stored_stamp() for lens in release_lenses(entry)))
