"""Found by another family (the question after the paper: does another way of training SAEs find the same units?): a
latent whose decoder direction has a partner at cosine >= 0.7 (the stitching threshold) in the SAE of the same size
of another family trained from the same activations (`data_of` in the catalog: the Matryoshka family beside the
standard one, and its BatchTopK control when that is built) was found both ways, a candidate canonical unit; one
without is its family's own. With several other families, a latent's partner is its closest one among them.

Partners are each latent's nearest decoder direction in the other SAE (not one to one, as stitching reads its
pairs). Each pair of SAEs is one file, kept by the family listed later in the catalog (built later: it needs both),
read by both families."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.artifacts import Artifact, canonical, safetensors_key
from backend.core.errors import AtlasError
from backend.core.files import atomic_path
from backend.core.progress import Reporter
from backend.lenses.lens import At, Badge, Lens, LensArtifact, Measure, known, latents, trend, within
from backend.lenses.source import LensSource
from backend.models.formats import is_dead
from backend.models.geometry import nearest_rows
from backend.models.headers import SAEOutline
from backend.models.loading import load_sae, source_key
from backend.sources.catalog import families_of, get_release
from backend.sources.release import Release
from backend.stitching.matching import DEFAULT_THRESHOLD

SIDES = ("first", "second")


class CrossMatch(LensArtifact[dict[str, Tensor]]):
    """Each latent's nearest decoder direction in the other SAE, both ways: `<side>_partner [n_side]` (a latent of the
    other side) and `<side>_cosine [n_side]`, for the data's own family (`first`) and the one trained from its data
    (`second`, whose folder keeps the file)."""

    def __init__(self, first: Release, first_id: str, second: Release, second_id: str) -> None:
        self.release = second  # it owns the file: built after `first`, from its data
        self.ends = {"first": (first, first_id), "second": (second, second_id)}

    def side(self, release_id: str, sae_id: str) -> str | None:
        """Which side `sae_id` of `release_id` is ("first" or "second"), None when it is neither."""
        return next((s for s, (r, i) in self.ends.items() if (r.id, i) == (release_id, sae_id)), None)

    @property
    def name(self) -> str:
        (first, first_id), (second, second_id) = self.ends.values()
        return f"families SAE-{first_id} of {first.id} · SAE-{second_id} of {second.id}"

    @property
    def path(self) -> Path:
        first, first_id = self.ends["first"]
        return self.release.paths.lens(f"families-{first.id}-{first_id}-{self.ends['second'][1]}.safetensors")

    def key(self) -> str:
        return canonical([source_key(release, sae_id) for release, sae_id in self.ends.values()])

    def stored_key(self) -> str | None:
        return safetensors_key(self.path)

    def load(self) -> dict[str, Tensor] | None:
        try:
            return load_file(str(self.path))
        except (FileNotFoundError, SafetensorError, OSError):
            return None

    def check(self, value: dict[str, Tensor]) -> None:
        sizes = {side: latents(release, sae_id) for side, (release, sae_id) in self.ends.items()}
        for side, other in zip(SIDES, reversed(SIDES), strict=True):
            partner, cosine = value.get(f"{side}_partner"), value.get(f"{side}_cosine")
            if partner is None or cosine is None or len(partner) != sizes[side] or len(cosine) != sizes[side]:
                raise self.damaged(f"does not hold one partner for each of the {sizes[side]} latents of its {side} SAE")
            if not within(partner.numpy(), 0, sizes[other] - 1):
                raise self.damaged("names partners that are not latents of the other SAE")
            if not within(cosine.numpy(), -1.001, 1.001):
                raise self.damaged("holds cosines outside [-1, 1]")

    def make(self, report: Reporter) -> dict[str, Tensor]:
        report(self.name, 0, 1)
        first, second = (load_sae(release, sae_id).sae.W_dec.detach() for release, sae_id in self.ends.values())
        found: dict[str, Tensor] = {}
        for side, (rows, keys) in zip(SIDES, ((first, second), (second, first)), strict=True):
            partner, cosine = nearest_rows(rows, keys, 1)
            found[f"{side}_partner"], found[f"{side}_cosine"] = partner[:, 0].contiguous(), cosine[:, 0].contiguous()
        with atomic_path(self.path) as tmp:
            save_file(found, str(tmp), metadata={"key": self.key()})
        report(self.name, 1, 1)
        return found


def _pairs(release: Release) -> list[CrossMatch]:
    """Every SAE of `release` with the SAE of the same size in each other family trained from the same data; of two
    families, the one listed later in the catalog (built later) keeps the pair."""
    found = []
    families = families_of(release)
    ids = [family.id for family in families]
    for other in families:
        if other.id == release.id:
            continue
        earlier = ids.index(other.id) < ids.index(release.id)
        first, second = (other, release) if earlier else (release, other)
        sizes = {entry.d_sae: entry.id for entry in second.saes}
        found += [
            CrossMatch(first, entry.id, second, sizes[entry.d_sae]) for entry in first.saes if entry.d_sae in sizes
        ]
    return found


def _stored(artifact: CrossMatch) -> dict[str, Tensor] | None:
    """What the pair's file holds, None when it is not computed, damaged or an SAE of it is still being built."""
    try:
        return artifact.read()
    except AtlasError:
        return None


def _matches(at: At) -> list[tuple[CrossMatch, str]]:
    """The stored pairs that read `at.sae_id`, with its side in each."""
    found: list[tuple[CrossMatch, str]] = []
    for artifact in at.lenses:
        side = artifact.side(at.release.id, at.sae_id) if isinstance(artifact, CrossMatch) else None
        if isinstance(artifact, CrossMatch) and side is not None:
            found.append((artifact, side))
    return found


def _found(at: At) -> Iterator[tuple[Release, str, np.ndarray, np.ndarray]]:
    """For each other family whose pair with `at.sae_id` is computed: (that family, its SAE, each latent's partner
    there `[n]`, its cosine `[n]`); `missing` says why a pair is not."""
    for artifact, side in _matches(at):
        stored = _stored(artifact)
        if stored is not None:
            other, other_sae = artifact.ends["second" if side == "first" else "first"]
            yield other, other_sae, stored[f"{side}_partner"].numpy(), stored[f"{side}_cosine"].numpy()


def partners(at: At, latent: int) -> list[tuple[Release, str, int, float]]:
    """`latent`'s nearest decoder direction in each other family's SAE of its size, closest first: (that family,
    its SAE, the partner latent, cosine); the families whose pair is not computed yet are left out."""
    found = [
        (other, sae_id, int(partner[latent]), float(cosine[latent])) for other, sae_id, partner, cosine in _found(at)
    ]
    return sorted(found, key=lambda one: -one[3])


class Families(Lens):
    name = "families"
    needs = (
        "Found by another family: needs a second family trained from the same data with an SAE of this size "
        "(`data_of` in the catalog)."
    )
    columns: ClassVar[dict[str, Any]] = {"family_of": "", "family_sae": "", "family_partner": None,
                                         "family_cosine": np.nan, "family_shared": None,
                                         "family_every": None}  # fmt: skip
    """family_every: a partner in every other family (None unless there are two or more: with one it is
    family_shared)."""
    compared = (
        Measure("found_by_other_family", "found by another family", None),
        Measure("found_by_every_family", "found by every other family", None),
    )

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        return list(_pairs(release))

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        best = np.full(len(frame), -np.inf)
        found_in: list[np.ndarray] = []
        for other_release, other_sae, partner, cosine in _found(at):
            found_in.append(cosine >= DEFAULT_THRESHOLD)
            better = cosine > best
            frame.loc[better, "family_of"] = other_release.id
            frame.loc[better, "family_sae"] = other_sae
            frame.loc[better, "family_partner"] = partner[better]
            frame.loc[better, "family_cosine"] = cosine[better]
            best = np.maximum(best, cosine)
        if np.isfinite(best).any():
            shared = pd.Series(best >= DEFAULT_THRESHOLD, dtype=object)
            frame["family_shared"] = shared.where(np.isfinite(best), None).to_numpy()
        if len(found_in) > 1:
            frame["family_every"] = pd.Series(np.logical_and.reduce(found_in), dtype=object).to_numpy()

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        frame = pd.DataFrame({"latent": np.arange(sae.cfg.d_sae)})
        for column, empty in self.columns.items():
            frame[column] = empty
        self.fill(frame, at)
        alive = ~is_dead(sae.log10_density).numpy() if sae.log10_density is not None else slice(None)
        return {
            measure: float(frame[column][alive].astype(bool).mean()) if frame[column].notna().any() else np.nan
            for measure, column in (
                ("found_by_other_family", "family_shared"),
                ("found_by_every_family", "family_every"),
            )
        }

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        if not known(row["family_shared"]) or not known(row["family_cosine"]):
            return []
        other = get_release(str(row["family_of"])).family_name
        where = f"{other} latent {int(row['family_partner'])} · {row['family_cosine']:.2f}"
        if not row["family_shared"]:
            return [(f"not found by another family: nearest {where}", "gray")]
        every = known(row["family_every"]) and bool(row["family_every"])
        return [(f"found by {'every other family' if every else 'another family too'}: {where}", "green")]

    def finding(self, family: pd.DataFrame) -> str | None:
        found = trend(family, "found_by_other_family")
        if found is None:
            return None
        every = trend(family, "found_by_every_family")
        return (
            f"The share of latents another family finds too (a partner at decoder cosine >= {DEFAULT_THRESHOLD} in "
            f"its SAE of the same size) {found[2]}"
            + (f"; the share every other family finds {every[2]}" if every is not None else "")
            + ": these are the candidate canonical units."
        )

    def missing(self, at: At) -> str | None:
        found = _matches(at)
        if not found:
            return self.needs
        if all((why := artifact.damage()) is not None for artifact, _ in found):
            return f"Found by another family: {why}"
        if all(_stored(artifact) is None for artifact, _ in found):
            return "Found by another family: not computed yet (it follows the other family's build)."
        return None


LENS = Families()
