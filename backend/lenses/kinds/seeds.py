"""Uniqueness across seeds (Paulo & Belrose 2025; backend/lenses/seeds.py): is a latent found again, one to one, by
the SAE's second seed (same data, recipe and budget)?"""

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from backend.core.artifacts import Artifact, canonical, safetensors_key
from backend.core.config import default_device
from backend.core.files import atomic_path
from backend.core.progress import Reporter
from backend.lenses.lens import At, Badge, Lens, LensArtifact, Measure, known, latents, trend, within
from backend.lenses.seeds import SeedAlignment, align_seeds
from backend.lenses.source import LensSource
from backend.models.formats import is_dead
from backend.models.headers import SAEOutline
from backend.models.loading import load_sae, source_key
from backend.sources.release import Release


class SeedMatch(LensArtifact[SeedAlignment]):
    """One-to-one partners of an SAE's latents in its second seed, keyed on both SAEs' weights."""

    def __init__(self, release: Release, sae_id: str) -> None:
        self.release, self.sae_id = release, sae_id
        twin = release.second_seed(sae_id)
        assert twin is not None, f"SAE {sae_id} has no second seed"
        self.twin_id = twin.id

    @property
    def name(self) -> str:
        return f"seed alignment SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"seeds-{self.sae_id}.safetensors")

    def key(self) -> str:
        return canonical([source_key(self.release, self.sae_id), source_key(self.release, self.twin_id)])

    def stored_key(self) -> str | None:
        return safetensors_key(self.path)

    def load(self) -> SeedAlignment | None:
        try:
            return SeedAlignment(**load_file(str(self.path)))
        except (FileNotFoundError, SafetensorError, TypeError, OSError):
            return None

    def check(self, value: SeedAlignment) -> None:
        n = latents(self.release, self.sae_id)
        if any(len(t) != n for t in value.tensors().values()):
            raise self.damaged(f"does not hold one partner for each of SAE {self.sae_id}'s {n} latents")
        if not within(value.partner.numpy(), 0, latents(self.release, self.twin_id) - 1):
            raise self.damaged(f"names partners that are not latents of {self.twin_id}")
        if not (within(value.decoder_cos.numpy(), -1.001, 1.001) and within(value.encoder_cos.numpy(), -1.001, 1.001)):
            raise self.damaged("holds cosines outside [-1, 1]")

    def make(self, report: Reporter) -> SeedAlignment:
        report(self.name, 0, 1)
        device = default_device()
        found = align_seeds(
            load_sae(self.release, self.sae_id, device).sae, load_sae(self.release, self.twin_id, device).sae
        )
        with atomic_path(self.path) as tmp:
            save_file({k: v.contiguous() for k, v in found.tensors().items()}, str(tmp), metadata={"key": self.key()})
        report(self.name, 1, 1)
        return found


class Seeds(Lens):
    name = "seeds"
    needs = "Uniqueness across seeds: needs a second seed of the SAE (`second_seeds` in the catalog)."
    columns: ClassVar[dict[str, Any]] = {"seed_partner": None, "seed_cosine": None, "seed_encoder_cosine": None,
                               "seed_shared": None}  # fmt: skip
    compared = (Measure("shared_across_seeds", "shared across seeds", "higher"),)

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        return [SeedMatch(release, twin.of) for twin in release.second_seeds]

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        found = at.read(SeedMatch, sae_id=at.sae_id)
        if found is not None:
            frame["seed_partner"] = found.partner.numpy()
            frame["seed_cosine"] = found.decoder_cos.numpy()
            frame["seed_encoder_cosine"] = found.encoder_cos.numpy()
            frame["seed_shared"] = found.shared().numpy()

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        found = at.read(SeedMatch, sae_id=at.sae_id)
        alive = ~is_dead(sae.log10_density) if sae.log10_density is not None else None
        return {"shared_across_seeds": found.shared_fraction(alive) if found is not None else np.nan}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        if not known(row["seed_shared"]):
            return []
        figure = f"{row['seed_cosine']:.2f} / {row['seed_encoder_cosine']:.2f}"
        return [(f"shared across seeds · {figure}", "green") if row["seed_shared"] else
                (f"seed-specific · {figure}", "orange")]  # fmt: skip

    def finding(self, family: pd.DataFrame) -> str | None:
        found = trend(family, "shared_across_seeds")
        if found is None:
            return None
        return (
            f"Shared across seeds {found[2]}; Paulo & Belrose report about 30% at 131k latents on Llama 3 8B, and more "
            "for narrower SAEs and for ReLU + L1 ones like these."
        )

    def missing(self, at: At) -> str | None:
        if at.release.second_seed(at.sae_id) is None:
            return self.needs
        stored = at.find(SeedMatch, sae_id=at.sae_id)
        if isinstance(stored, SeedMatch) and (why := stored.damage()) is not None:
            return f"Uniqueness across seeds: {why}"
        if at.read(SeedMatch, sae_id=at.sae_id) is None:
            return "Uniqueness across seeds: the second seed is still being trained or aligned."
        return None


LENS = Seeds()
