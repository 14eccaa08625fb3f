"""Clean splits (backend/lenses/cofiring.py): on the lineage edges of neighbouring sizes, over held-out tokens, does a
parent's firing split among its children as a partition, or leave a hole, or overlap?"""

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from backend.core.artifacts import Artifact, KeyedTable, canonical
from backend.core.config import default_device
from backend.core.progress import Reporter
from backend.lenses import cofiring
from backend.lenses.lens import At, Badge, Lens, LensArtifact, Measure, latents, rows, stored_missing, within
from backend.lenses.source import LensSource
from backend.models.headers import SAEOutline
from backend.models.loading import load_sae
from backend.sources.release import Release
from backend.stitching.family import PairMatching
from backend.stitching.matching import DEFAULT_THRESHOLD


class CoFiring(LensArtifact[pd.DataFrame], KeyedTable):
    """Co-firing on every stored edge of a neighbouring pair, over held-out tokens, with each split's verdict."""

    def __init__(self, release: Release, small_id: str, large_id: str, source: LensSource) -> None:
        self.release, self.small_id, self.large_id, self.source = release, small_id, large_id, source

    @property
    def name(self) -> str:
        return f"co-firing SAE-{self.small_id}→{self.large_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"cofiring-{self.small_id}-{self.large_id}.parquet")

    def key(self) -> str:
        rules = {"coverage": cofiring.MIN_COVERAGE, "overlap": cofiring.MAX_OVERLAP}
        matching = PairMatching(self.release, self.small_id, self.large_id).key()
        return canonical({"matching": matching, "data": self.source.data_key(self.stored_key()), "rules": rules})

    def check(self, value: pd.DataFrame) -> None:
        needed = {"parent", "child", "cosine", "p_parent_given_child", "coverage", "verdict"}
        if not needed <= set(value.columns):
            raise self.damaged("does not have a co-firing table's columns")
        small, large = latents(self.release, self.small_id), latents(self.release, self.large_id)
        if not (within(value["parent"], 0, small - 1) and within(value["child"], 0, large - 1)):
            raise self.damaged(f"names latents that SAE {self.small_id} or {self.large_id} does not have")
        rates = [value[c].dropna() for c in ("p_parent_given_child", "coverage")]
        if not (all(within(r, 0, 1) for r in rates) and within(value["cosine"], -1.001, 1.001)):
            raise self.damaged("holds rates outside [0, 1] or cosines outside [-1, 1]")
        if not set(value["verdict"].dropna()) <= {"partition", "hole", "overlap"}:
            raise self.damaged("holds verdicts other than partition, hole and overlap")

    def make(self, report: Reporter) -> pd.DataFrame:
        report(self.name, 0, 2)
        matching = PairMatching(self.release, self.small_id, self.large_id).get()
        vectors = self.source().held_out_vectors
        small, large = (load_sae(self.release, i, default_device()).sae for i in (self.small_id, self.large_id))
        fired = cofiring.firing(small, vectors), cofiring.firing(large, vectors)
        report(self.name, 1, 2)
        frame = self.store(cofiring.edge_table(matching, *fired))
        report(self.name, 2, 2)
        return frame


class Splits(Lens):
    name = "splits"
    needs = "Clean splits: co-firing on the lineage edges, over held-out tokens (needs a next larger SAE)."
    columns: ClassVar[dict[str, Any]] = {"split": "", "split_coverage": np.nan, "parent_given_child": np.nan}
    compared = (
        Measure(
            "partition_share", "splits that partition", "higher",
            nested="a prefix's latent is its own child in the next wider prefix (cosine 1), which covers all its firing",
        ),
    )  # fmt: skip

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        return [CoFiring(release, small, large, source) for small, large in release.neighbour_pairs]

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        down, up = at.read(CoFiring, small_id=at.sae_id), at.read(CoFiring, large_id=at.sae_id)
        if isinstance(down, pd.DataFrame) and "verdict" in down:
            parents = down.dropna(subset=["verdict"]).drop_duplicates("parent").set_index("parent")
            frame["split"] = frame["latent"].map(parents["verdict"]).fillna("")
            frame["split_coverage"] = frame["latent"].map(parents["coverage"])
        if isinstance(up, pd.DataFrame):
            strong = up[up["cosine"] >= DEFAULT_THRESHOLD].groupby("child")["p_parent_given_child"].max()
            frame["parent_given_child"] = frame["latent"].map(strong)

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        splits = at.read(CoFiring, small_id=at.sae_id)
        if not rows(splits):
            return {"partition_share": np.nan}
        verdicts = splits.dropna(subset=["verdict"]).drop_duplicates("parent")
        return {"partition_share": float((verdicts["verdict"] == "partition").mean()) if rows(verdicts) else np.nan}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        if not row["split"]:
            return []
        text = f"split into SAE-{at.larger}: {row['split']} · covers {row['split_coverage']:.0%}"
        return [(text, "green" if row["split"] == "partition" else "orange")]

    def finding(self, family: pd.DataFrame) -> str | None:
        if "partition_share" not in family or family["partition_share"].isna().all():
            return None
        shares = family["partition_share"].dropna()
        return (
            f"{shares.min():.0%} to {shares.max():.0%} of splits partition their parent; the others leave holes or "
            "overlap (the verdicts are in the latent table)."
        )

    def missing(self, at: At) -> str | None:
        return stored_missing(self, at, CoFiring, small_id=at.sae_id) if at.larger else None


LENS = Splits()
