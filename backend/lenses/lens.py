"""What a canonical-units lens is: one answer, per latent and per SAE size, to a part of the paper's question (is
this latent a canonical unit?), from the artifacts the build stores for it.

A lens is one module of `backend.lenses.kinds`, listed in its `LENSES`: its artifacts (what the build computes and
`sae-atlas lenses` recomputes), its per-latent columns (the card's profile, the Canonical page's table and
`export canonicality`), its per-size figures (the family table and `sae-atlas lenses`), its badges on the latent
card, a sentence on its trend, and why it is missing for an SAE. Nothing else names a lens.
"""

import logging
import math
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd

from backend.core.artifacts import Artifact
from backend.core.errors import AtlasError, StoreError, first_line
from backend.core.files import file_digest, write_bytes_atomic
from backend.core.progress import Reporter, silent
from backend.lenses.source import LensSource
from backend.models.headers import SAEOutline
from backend.models.loading import load_sae
from backend.sources.release import Release

LOG = logging.getLogger("sae_atlas")
V = TypeVar("V")
Colour = Literal["red", "orange", "blue", "green", "violet", "gray"]
Badge = tuple[str, Colour]
"""A badge's text and colour on the latent card."""


CHECKSUM = ".sha256"
"""Beside each lens file: the SHA-256 of the bytes its build wrote."""


class LensArtifact(Artifact[V]):
    """A lens's stored file, checked like an index when read: its bytes against the checksum written beside it, its
    values against their ranges and the SAEs' sizes (`check`). A damaged one is never read as a fact: `read` raises
    StoreError, and it is not current, so `build` and `sae-atlas lenses` compute it again (saying so)."""

    release: Release

    @property
    @abstractmethod
    def path(self) -> Path:
        """Its one file."""

    @property
    def checksum(self) -> Path:
        return self.path.with_name(self.path.name + CHECKSUM)

    def files(self) -> list[Path]:
        return [path for path in (self.path, self.checksum) if path.exists()]

    def finished(self) -> bool:
        return self.path.exists() and self.checksum.exists()

    @abstractmethod
    def make(self, report: Reporter) -> V:
        """Compute it and write `path` (atomically, under `key()`)."""

    def compute(self, report: Reporter = silent) -> V:
        value = self.make(report)
        write_bytes_atomic(self.checksum, file_digest(self.path).encode())
        return value

    @abstractmethod
    def check(self, value: V) -> None:
        """StoreError (through `damaged`) when `value` cannot be what this lens computed for its SAEs."""

    def damage(self) -> str | None:
        """Why the stored copy cannot be read as a fact, or None (also when there is none)."""
        if not self.path.exists():
            return None
        try:
            sealed = self.checksum.read_text(encoding="utf-8").strip()
            if sealed != file_digest(self.path):
                raise self.damaged("does not match the checksum its build wrote beside it (altered or corrupt)")
            value = self.load()
            if value is not None:
                self.check(value)
        except FileNotFoundError:
            return str(self.damaged("has no checksum beside it (written before lens files had one, or it was removed)"))
        except (OSError, UnicodeDecodeError) as err:
            return str(self.damaged(f"cannot be checked ({first_line(err)})"))
        except StoreError as err:
            return str(err)
        return None

    def is_current(self) -> bool:
        if not super().is_current():
            return False
        why = self.damage()
        if why is not None:
            LOG.warning("%s Computing it again.", why)
        return why is None

    def damaged(self, what: str) -> StoreError:
        return StoreError(
            f"The stored {self.name} {what}; compute it again with `python -m backend lenses --release "
            f"{self.release.id}`."
        )


def latents(release: Release, sae_id: str) -> int:
    """How many latents SAE `sae_id` has: its catalog entry's `d_sae`, or its weights' where the entry says none."""
    return release.sae(sae_id).d_sae or load_sae(release, sae_id).sae.cfg.d_sae


def within(values: object, low: float, high: float) -> bool:
    """Every value is a finite number in [low, high]."""
    found = np.asarray(values, dtype=float)
    return bool(np.isfinite(found).all() and (found >= low).all() and (found <= high).all())


@dataclass(frozen=True)
class At:
    """One SAE of a release, with the release's lens artifacts, as a lens reads it."""

    release: Release
    sae_id: str
    lenses: tuple[Artifact, ...]

    @property
    def smaller(self) -> str | None:
        return self.release.neighbours(self.sae_id)[0]

    @property
    def larger(self) -> str | None:
        return self.release.neighbours(self.sae_id)[1]

    def find(self, kind: type, **match: str) -> Artifact | None:
        """The lens artifact of `kind` whose attributes equal `match` (None when the release has none)."""
        return next(
            (a for a in self.lenses if isinstance(a, kind) and all(getattr(a, k) == v for k, v in match.items())), None
        )

    def read(self, kind: type, **match: str) -> Any:
        """What that artifact stores, or None: absent, not computed yet, damaged (`damage` says why), or an input it
        is keyed on still being built."""
        found = self.find(kind, **match)
        try:
            return found.read() if found is not None else None
        except AtlasError:
            return None


@dataclass(frozen=True)
class Measure:
    """A per-size figure two families are compared on (backend/lenses/compare.py)."""

    column: str
    """Its column of `family_lenses` (or of the family's quality table)."""
    label: str
    better: Literal["higher", "lower"] | None
    """Which way is closer to canonical units (or to a better SAE); None: neither, it is a setting."""
    matryoshka_paper: Literal["higher", "lower"] | None = None
    """How the Matryoshka paper (Bussmann et al. 2025) reports a Matryoshka SAE's figure against a standard one's,
    where it reports it."""
    share: bool = True
    """A fraction (said as a percentage); False: a number."""
    nested: str = ""
    """Why a family of nested prefixes (one Matryoshka SAE) has its figure by construction, where it does: then no
    family is said to do better on it."""

    def said(self, value: float) -> str:
        return f"{value:.0%}" if self.share else f"{value:.3g}"


class Lens:
    """One lens. Subclasses set `name`, `needs` and `columns`, and override what they have."""

    name: ClassVar[str]
    """Short, as the card's badges and the missing-lens notes say it."""
    needs: ClassVar[str]
    """One sentence: what it measures and what a release needs to have it."""
    columns: ClassVar[dict[str, Any]]
    """Its per-latent columns and their value where it has none (None, NaN or "")."""
    compared: ClassVar[tuple[Measure, ...]] = ()
    """Its per-size figures that families trained from the same data are compared on."""

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        """What the build stores for it on `release`, in build order (none where the release cannot have it)."""
        return []

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        """Sets `columns` on `frame` (one row per latent, `latent` column) from what is stored; they start empty."""

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        """Its figures for one SAE of the family (NaN where they are not there yet)."""
        return {}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        """Its badges for one latent's profile row."""
        return []

    def finding(self, family: pd.DataFrame) -> str | None:
        """One sentence on what `family_lenses` shows against size for it, with its figures."""
        return None

    def missing(self, at: At) -> str | None:
        """Why `at.sae_id` has no figures of it, and how to get them; None when it has them."""
        return None


def stored_missing(lens: Lens, at: At, kind: type, **match: str) -> str | None:
    """The usual reasons a lens stored as artifact `kind` is missing: the release cannot have it, its stored copy is
    damaged, it is not computed yet, or it was computed and is empty."""
    found = at.find(kind, **match)
    if found is None:
        return lens.needs
    if isinstance(found, LensArtifact) and (why := found.damage()) is not None:
        return f"{lens.needs.split(':')[0]}: {why}"
    stored = at.read(kind, **match)
    if stored is None:
        return f"{lens.needs.split(':')[0]}: not computed yet (the build, or `sae-atlas lenses`)."
    if isinstance(stored, pd.DataFrame) and stored.empty:
        return f"{lens.needs} This release's corpus has too few of them."
    return None


def rows(table: object) -> bool:
    """A stored table with at least one row."""
    return isinstance(table, pd.DataFrame) and len(table) > 0


def trend(family: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series, str] | None:
    """First and last SAE with `column`, and "rises/falls from x% at SAE-a to y% at SAE-b"; None below two."""
    shown = family.dropna(subset=[column]) if column in family else family.iloc[:0]
    if len(shown) < 2:
        return None
    first, last = shown.iloc[0], shown.iloc[-1]
    word = "rises" if last[column] > first[column] else "falls"
    return (
        first,
        last,
        f"{word} from {first[column]:.0%} at SAE-{first['sae']} to {last[column]:.0%} at SAE-{last['sae']}",
    )


def artifacts_of(lenses: Iterable[Lens], release: Release, source: LensSource) -> list[Artifact]:
    return [artifact for lens in lenses for artifact in lens.artifacts(release, source)]


def known(value: object) -> bool:
    """A profile value that is there: not None and not NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))
