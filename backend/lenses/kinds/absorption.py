"""First-letter absorption (Chanin et al. 2024; backend/lenses/absorption.py): per letter, the latents that carry the
letter probe's direction, and those that absorb it where the main ones stay silent."""

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from backend.core.artifacts import Artifact, KeyedTable, canonical
from backend.core.config import default_device
from backend.core.progress import Reporter
from backend.lenses import absorption
from backend.lenses.lens import At, Badge, Lens, LensArtifact, Measure, latents, stored_missing, trend, within
from backend.lenses.source import LensData, LensSource
from backend.models.headers import SAEOutline
from backend.models.loading import load_sae, source_key
from backend.sources.release import Release


class SAELensTable(LensArtifact[pd.DataFrame], KeyedTable):
    """A lens stored as one table per SAE, at `lens("<file>-<sae>.parquet")`, named "<file> SAE-<sae>"."""

    file: ClassVar[str]

    def __init__(self, release: Release, sae_id: str, source: LensSource) -> None:
        self.release, self.sae_id, self.source = release, sae_id, source

    @property
    def name(self) -> str:
        return f"{self.file} SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"{self.file}-{self.sae_id}.parquet")


def words(data: LensData) -> absorption.WordTokens:
    """The word tokens of the lens activations, with their first letters (computed once per `data`)."""
    return data.derived("words", lambda: absorption.word_tokens(data.tokens, data.acts, data.keep, data.vocab))


def probe(data: LensData) -> absorption.LetterProbe:
    """The first-letter probe fitted on `words(data)` (once per `data`)."""
    return data.derived("probe", lambda: absorption.fit_probe(words(data)))


class Absorption(SAELensTable):
    """First-letter absorption of one SAE, one row per letter (with the probe's held-out accuracy)."""

    file = "absorption"

    def key(self) -> str:
        rules = {name: getattr(absorption, name) for name in absorption.RULES}
        data = self.source.data_key(self.stored_key())
        return canonical({"sae": source_key(self.release, self.sae_id), "data": data, "rules": rules})

    def check(self, value: pd.DataFrame) -> None:
        if not set(absorption.COLUMNS) <= set(value.columns):
            raise self.damaged("does not have an absorption table's columns")
        n = latents(self.release, self.sae_id)
        ids = [np.asarray(cell, dtype=float) for column in ("main_latents", "absorbers") for cell in value[column]]
        if not all(within(cell, 0, n - 1) for cell in ids):
            raise self.damaged(f"names latents that SAE {self.sae_id} does not have")
        shares = ("probe_f1", "main_f1", "main_recall", "miss_rate", "full_absorption", "absorption_fraction",
                  "baseline_full_absorption", "baseline_absorption_fraction", "probe_accuracy")  # fmt: skip
        if not all(within(value[column].dropna(), 0, 1) for column in shares):
            raise self.damaged("holds rates outside [0, 1]")

    def make(self, report: Reporter) -> pd.DataFrame:
        report(self.name, 0, 2)
        data = self.source()
        found = words(data)
        if not absorption.probe_possible(found):  # stored empty: the lens says why, it is not retried
            return self.store(pd.DataFrame(columns=absorption.COLUMNS))
        fitted = probe(data)
        report(self.name, 1, 2)
        sae = load_sae(self.release, self.sae_id, default_device()).sae
        frame = absorption.absorption_table(sae, found, fitted, data.vocab).assign(probe_accuracy=fitted.accuracy)
        self.store(frame)
        report(self.name, 2, 2)
        return frame


FAMILY = ("absorption_fraction", "full_absorption", "baseline_absorption_fraction", "baseline_full_absorption",
          "main_f1", "main_recall")  # fmt: skip


class AbsorptionLens(Lens):
    name = "absorption"
    needs = "First-letter absorption: needs word tokens the probe knows (a tokenizer with whole words)."
    columns: ClassVar[dict[str, Any]] = {"absorption": ""}
    compared = (
        Measure("absorption_fraction", "absorption fraction", "lower", matryoshka_paper="lower"),
        Measure("full_absorption", "full absorption", "lower", matryoshka_paper="lower"),
    )

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        return [Absorption(release, sae_id, source) for sae_id in release.sae_ids]

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        table = at.read(Absorption, sae_id=at.sae_id)
        if not isinstance(table, pd.DataFrame):
            return
        roles: dict[int, list[str]] = {}
        for _, row in table[table.apply(absorption.measurable, axis=1)].iterrows():
            for latent in row["main_latents"]:
                roles.setdefault(int(latent), []).append(f"main latent of '{row['letter']}'")
            for latent, count in zip(row["absorbers"], row["absorber_tokens"], strict=True):
                roles.setdefault(int(latent), []).append(f"absorbs '{row['letter']}' ({count} words)")
        frame["absorption"] = frame["latent"].map(lambda latent: "; ".join(roles.get(latent, [])))

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        table = at.read(Absorption, sae_id=at.sae_id)
        if not isinstance(table, pd.DataFrame):
            return {name: np.nan for name in FAMILY}
        shown = table[table.apply(absorption.measurable, axis=1)]
        return {name: float(shown[name].mean()) if len(shown) else np.nan for name in FAMILY}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        text = str(row["absorption"])
        return [(text, "red" if "absorbs" in text else "blue")] if text else []

    def finding(self, family: pd.DataFrame) -> str | None:
        found = trend(family, "absorption_fraction")
        if found is None:
            return None
        last = found[1]
        ratio = last["absorption_fraction"] / max(last["baseline_absorption_fraction"], 1e-9)
        return (
            f"The absorption fraction {found[2]} ({ratio:.0f}x its random-direction baseline at the largest), while "
            f"the main letter latents' recall is {last['main_recall']:.0%} there."
        )

    def missing(self, at: At) -> str | None:
        return stored_missing(self, at, Absorption, sae_id=at.sae_id)


LENS = AbsorptionLens()
