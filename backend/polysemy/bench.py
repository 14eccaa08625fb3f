"""The PS-Eval benchmark across a family: per-pair predictions cached per SAE and probe set, then metrics.

Each SAE's result is an artifact (`Predictions`, at `ReleasePaths.polysemy`): each pair's two argmax latents and why
it was skipped (empty when probed), keyed on the SAE's weights, so a rebuilt SAE is re-probed.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from backend.core.artifacts import KeyedTable
from backend.core.errors import AtlasError
from backend.core.progress import Reporter, silent
from backend.models.language import LanguageModel
from backend.models.loading import load_sae, source_key
from backend.polysemy.probe import Mode, top_latents, word_vectors
from backend.sources.catalog import Release


def probe_set_id(probe: pd.DataFrame) -> str:
    """A short content hash: the same pairs give the same id wherever they came from."""
    return hashlib.sha1(probe.to_csv(index=False).encode()).hexdigest()[:12]


class Predictions(KeyedTable):
    """One SAE's predictions on one probe set in one mode: argmax1, argmax2 and skipped (why, empty when probed)
    per pair, keyed on the SAE's weights. Computed for several SAEs at once by `predictions`."""

    def __init__(self, release: Release, set_id: str, mode: str, sae_id: str) -> None:
        self.release, self.set_id, self.mode, self.sae_id = release, set_id, mode, sae_id

    @classmethod
    def stored(cls, release: Release) -> list["Predictions"]:
        """Every probe result on disk (probe sets are the user's: they are found, not planned)."""
        found = []
        for path in sorted(release.paths.polysemy_folder.glob("*.parquet")):
            set_id, mode, sae_id = path.stem.split("-", 2)
            if sae_id in release.sae_ids:
                found.append(cls(release, set_id, mode, sae_id))
        return found

    @property
    def name(self) -> str:
        return f"polysemy {self.set_id} ({self.mode}) SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.polysemy(self.set_id, self.mode, self.sae_id)

    def key(self) -> str:
        return source_key(self.release, self.sae_id)

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        raise AtlasError("Probe results are computed for a probe set, not alone: run the probe on the Polysemy page.")


def cached_predictions(
    release: Release, probe: pd.DataFrame, mode: Mode, sae_ids: list[str]
) -> dict[str, pd.DataFrame]:
    """The SAEs' stored predictions for this probe set and mode (those not stored are left out)."""
    set_id = probe_set_id(probe)
    found = {sae_id: Predictions(release, set_id, mode, sae_id).read() for sae_id in sae_ids}
    return {sae_id: frame for sae_id, frame in found.items() if frame is not None}


def predictions(
    release: Release,
    probe: pd.DataFrame,
    mode: Mode,
    sae_ids: list[str],
    lm: Callable[[], LanguageModel],
    report: Reporter | None = None,
) -> dict[str, pd.DataFrame]:
    """Per SAE: argmax1, argmax2 and skipped for every pair, computed only for SAEs not cached.
    `lm` is called (and the model run once for all SAEs) only when something is missing."""
    report = report or silent
    set_id = probe_set_id(probe)
    found: dict[str, pd.DataFrame | None] = {sae_id: None for sae_id in sae_ids}
    found.update(cached_predictions(release, probe, mode, sae_ids))
    missing = [sae_id for sae_id, frame in found.items() if frame is None]
    if missing:
        items = [(c, w) for w, c in zip(probe["word"], probe["context1"], strict=True)]
        items += [(c, w) for w, c in zip(probe["word"], probe["context2"], strict=True)]
        vectors, skipped = word_vectors(lm(), release, items, mode, lambda d, t: report("reading the model", d, t))
        n = len(probe)
        reasons = [skipped[i] or skipped[n + i] or "" for i in range(n)]
        for number, sae_id in enumerate(missing):
            report("encoding with the SAEs", number, len(missing))
            argmax = pd.array(top_latents(load_sae(release, sae_id).sae, vectors, 1)[0][:, 0].numpy(), dtype="Int64")
            argmax[[reason is not None for reason in skipped]] = pd.NA
            artifact = Predictions(release, set_id, mode, sae_id)
            artifact.store(pd.DataFrame({"argmax1": argmax[:n], "argmax2": argmax[n:], "skipped": reasons}))
            found[sae_id] = artifact.read()  # as read later, dtypes included
        report("encoding with the SAEs", len(missing), len(missing))
    return {sae_id: frame for sae_id, frame in found.items() if frame is not None}
