"""The PS-Eval benchmark across a family: per-pair predictions cached per SAE and probe set, then metrics.

Each SAE's result is an artifact (`Predictions`, at `ReleasePaths.polysemy`): each pair's two argmax latents, the
cosine of its two codes and why it was skipped (empty when probed), keyed on the SAE's weights, so a rebuilt SAE is
re-probed. The same pass stores the cosine of the two hook activations themselves (`ResidualCosines`): the baseline of
what the model holds at the hook, which no SAE reading should be judged without.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from backend.core.artifacts import KeyedTable
from backend.core.errors import AtlasError
from backend.core.progress import Reporter, silent
from backend.models.language import LanguageModel
from backend.models.loading import load_sae, source_key
from backend.polysemy.probe import RESIDUAL, Mode, encoded, strongest, word_vectors
from backend.sources.release import Release

READING = "argmax+cosine"
"""What a stored reading holds; part of every key, so readings stored before the cosine was kept are redone."""


def probe_set_id(probe: pd.DataFrame) -> str:
    """A short content hash: the same pairs give the same id wherever they came from."""
    return hashlib.sha1(probe.to_csv(index=False).encode()).hexdigest()[:12]


class Predictions(KeyedTable):
    """One SAE's predictions on one probe set in one mode: argmax1, argmax2, cosine (of the pair's two codes) and
    skipped (why, empty when probed) per pair, keyed on the SAE's weights. Computed for several SAEs at once by
    `predictions`."""

    def __init__(self, release: Release, set_id: str, mode: str, sae_id: str) -> None:
        self.release, self.set_id, self.mode, self.sae_id = release, set_id, mode, sae_id

    @classmethod
    def stored(cls, release: Release) -> list["Predictions"]:
        """Every probe result on disk (probe sets are the user's: they are found, not planned)."""
        found = []
        for path in sorted(release.paths.polysemy_folder.glob("*.parquet")):
            set_id, mode, reader = path.stem.split("-", 2)
            if reader in release.sae_ids:
                found.append(Predictions(release, set_id, mode, reader))
            elif reader == RESIDUAL:
                found.append(ResidualCosines(release, set_id, mode))
        return found

    @property
    def name(self) -> str:
        return f"polysemy {self.set_id} ({self.mode}) SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.polysemy(self.set_id, self.mode, self.sae_id)

    def key(self) -> str:
        return f"{source_key(self.release, self.sae_id)}|{READING}"

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        raise AtlasError("Probe results are computed for a probe set, not alone: run the probe on the Polysemy page.")


class ResidualCosines(Predictions):
    """The cosine of each pair's two activations at the hook (argmax columns empty), keyed on the model and hook."""

    def __init__(self, release: Release, set_id: str, mode: str) -> None:
        super().__init__(release, set_id, mode, RESIDUAL)

    @property
    def name(self) -> str:
        return f"polysemy {self.set_id} ({self.mode}) residual stream"

    def key(self) -> str:
        return f"{self.release.model}|{self.release.hook}|{self.release.convention}|{READING}"


def reading(release: Release, set_id: str, mode: str, reader: str) -> Predictions:
    """The stored reading of one SAE, or of the residual stream (`RESIDUAL`)."""
    return ResidualCosines(release, set_id, mode) if reader == RESIDUAL else Predictions(release, set_id, mode, reader)


def cached_predictions(
    release: Release, probe: pd.DataFrame, mode: Mode, sae_ids: list[str]
) -> dict[str, pd.DataFrame]:
    """The stored readings of these SAEs and of the residual stream for this probe set and mode (keyed by SAE id and
    `RESIDUAL`; those not stored are left out)."""
    set_id = probe_set_id(probe)
    found = {reader: reading(release, set_id, mode, reader).read() for reader in [*sae_ids, RESIDUAL]}
    return {sae_id: frame for sae_id, frame in found.items() if frame is not None}


def pair_items(probe: pd.DataFrame) -> list[tuple[str, str]]:
    """Every (context, word) to read: the first contexts of all pairs, then the second ones."""
    items = [(c, w) for w, c in zip(probe["word"], probe["context1"], strict=True)]
    return items + [(c, w) for w, c in zip(probe["word"], probe["context2"], strict=True)]


def pair_reasons(skipped: list[str | None]) -> list[str]:
    """Per pair, why it was skipped (empty when both contexts were read), from `word_vectors`' reasons per item."""
    n = len(skipped) // 2
    return [skipped[i] or skipped[n + i] or "" for i in range(n)]


def pair_cosines(codes: torch.Tensor, reasons: list[str]) -> np.ndarray:
    """`codes [2n, d]` (as `pair_items` orders them) -> per pair the cosine of its two readings, NaN where skipped."""
    n = len(reasons)
    cosine = torch.nn.functional.cosine_similarity(codes[:n], codes[n:], dim=1).numpy().astype("float64")
    cosine[[reason != "" for reason in reasons]] = np.nan
    return cosine


def predictions(
    release: Release,
    probe: pd.DataFrame,
    mode: Mode,
    sae_ids: list[str],
    lm: Callable[[], LanguageModel],
    report: Reporter | None = None,
) -> dict[str, pd.DataFrame]:
    """Per SAE (and `RESIDUAL`): argmax1, argmax2, cosine and skipped for every pair, computed only for readers not
    cached. `lm` is called (and the model run once for all of them) only when something is missing."""
    report = report or silent
    set_id = probe_set_id(probe)
    found: dict[str, pd.DataFrame | None] = {reader: None for reader in [*sae_ids, RESIDUAL]}
    found.update(cached_predictions(release, probe, mode, sae_ids))
    missing = [reader for reader, frame in found.items() if frame is None]
    if missing:
        items = pair_items(probe)
        vectors, skipped = word_vectors(lm(), release, items, mode, lambda d, t: report("reading the model", d, t))
        n, reasons = len(probe), pair_reasons(skipped)
        for number, reader in enumerate(missing):
            report("encoding with the SAEs", number, len(missing))
            codes = vectors if reader == RESIDUAL else encoded(load_sae(release, reader).sae, vectors)
            argmax = pd.array(strongest(codes, 1)[0][:, 0].numpy(), dtype="Int64")
            # A model dimension is no latent; a skipped item has none.
            argmax[[True] * len(items) if reader == RESIDUAL else [r is not None for r in skipped]] = pd.NA
            frame = pd.DataFrame(
                {
                    "argmax1": argmax[:n],
                    "argmax2": argmax[n:],
                    "cosine": pair_cosines(codes, reasons),
                    "skipped": reasons,
                }
            )
            artifact = reading(release, set_id, mode, reader)
            artifact.store(frame)
            found[reader] = artifact.read()  # as read later, dtypes included
        report("encoding with the SAEs", len(missing), len(missing))
    return {reader: frame for reader, frame in found.items() if frame is not None}
