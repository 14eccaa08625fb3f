"""Facets (after PRISM; backend/lenses/facets.py): how many kinds of context a latent fires in, from its index's
interval examples clustered by context."""

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from torch import Tensor

from backend.core.artifacts import Artifact, canonical
from backend.core.errors import AtlasError
from backend.core.progress import Reporter
from backend.index.artifact import LatentIndex
from backend.lenses import facets
from backend.lenses.kinds.absorption import SAELensTable
from backend.lenses.lens import At, Badge, Lens, Measure, latents, rows, stored_missing, trend, within
from backend.lenses.source import LensData, LensSource
from backend.models.headers import SAEOutline
from backend.sources.release import Release


class Facets(SAELensTable):
    """Facets of every latent of one SAE, from its index's interval examples."""

    file = "facets"
    cpu_bound = True  # context vectors and their clustering, in NumPy

    def key(self) -> str:
        rules = {"window": facets.WINDOW, "distance": facets.FACET_DISTANCE, "share": facets.MIN_SHARE}
        # The key the index was written with: verifying its files on every currency check cost a fresh server's
        # first Canonical view a second at the paper's scale, and a damaged index is refused where it is read.
        index = LatentIndex.served(self.release, self.sae_id).sealed_key()
        return canonical({"index": index, "data": self.source.data_key(self.stored_key()), "rules": rules})

    def check(self, value: pd.DataFrame) -> None:
        if not {"latent", "facet", "share", "label", "examples"} <= set(value.columns):
            raise self.damaged("does not have a facets table's columns")
        if not within(value["latent"], 0, latents(self.release, self.sae_id) - 1):
            raise self.damaged(f"names latents that SAE {self.sae_id} does not have")
        if not (
            within(value["share"], 0, 1 + 1e-6)
            and within(value["facet"], 0, np.inf)
            and within(value["examples"], 0, np.inf)
        ):
            raise self.damaged("holds shares outside [0, 1] or negative facet numbers or counts")

    def make(self, report: Reporter) -> pd.DataFrame:
        report(self.name, 0, 3)
        reader = LatentIndex.served(self.release, self.sae_id).get()
        samples = reader.interval_samples()
        data = self.source()
        acts = _index_contexts(np.asarray(reader.tokens), data)
        report(self.name, 1, 3)
        vectors = facets.context_vectors(acts, samples["token"].to_numpy())
        report(self.name, 2, 3)
        flat = reader.tokens.reshape(-1)
        strings = [reader.vocab[int(flat[i])] for i in samples["token"].to_numpy()]
        frame = self.store(facets.facet_table(samples, vectors, strings))
        report(self.name, 3, 3)
        return frame


def _index_contexts(index_tokens: np.ndarray, data: LensData) -> Tensor:
    """The activations of the index's contexts: the last contexts of the lens data when they are the same ones."""
    n = len(index_tokens)
    if n <= len(data.tokens) and np.array_equal(data.tokens[-n:].numpy(), index_tokens):
        return data.acts[-n:]
    raise AtlasError(
        "The index was built over other contexts than the lens activations; rebuild the index or the release."
    )


class FacetsLens(Lens):
    name = "facets"
    needs = "Facets: the index's examples clustered by context."
    columns: ClassVar[dict[str, Any]] = {"facets": np.nan, "top_facet_share": np.nan, "top_facet": ""}
    compared = (Measure("facets_per_latent", "facets per latent", "lower", share=False),)

    def artifacts(self, release: Release, source: LensSource) -> list[Artifact]:
        return [Facets(release, sae_id, source) for sae_id in release.sae_ids]

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        table = at.read(Facets, sae_id=at.sae_id)
        if rows(table):
            counts = table.groupby("latent").size()
            top = table[table["facet"] == 0].set_index("latent")
            frame["facets"] = frame["latent"].map(counts)
            frame["top_facet_share"] = frame["latent"].map(top["share"])
            frame["top_facet"] = frame["latent"].map(top["label"]).fillna("")

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        table = at.read(Facets, sae_id=at.sae_id)
        return {"facets_per_latent": float(table.groupby("latent").size().mean()) if rows(table) else np.nan}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        if pd.isna(row["facets"]):
            return []
        count = int(row["facets"])
        return (
            [("1 facet", "green")] if count == 1 else [(f"{count} facets · top {row['top_facet_share']:.0%}", "orange")]
        )

    def finding(self, family: pd.DataFrame) -> str | None:
        found = trend(family, "facets_per_latent")
        if found is None:
            return None
        return f"Facets per latent go from {found[0]['facets_per_latent']:.2f} to {found[1]['facets_per_latent']:.2f} with size."

    def missing(self, at: At) -> str | None:
        return stored_missing(self, at, Facets, sae_id=at.sae_id)


LENS = FacetsLens()
