"""Atomicity (the paper's meta-SAEs): how well the SAE's meta-SAE reconstructs a latent's decoder direction, and
from how many meta-latents (backend/metasae/atomicity.py). Read from the meta-SAE the family builds."""

from typing import Any, ClassVar

import pandas as pd

from backend.core.errors import AtlasError
from backend.lenses.lens import At, Badge, Lens, known
from backend.metasae.atomicity import COMPOSITION_COSINE, atomicity
from backend.metasae.decompose import build_decompositions
from backend.models.loading import load_meta_sae, load_sae


class Atomicity(Lens):
    name = "atomicity"
    needs = "Atomicity: needs a meta-SAE over the SAE (`meta_saes` in the catalog)."
    columns: ClassVar[dict[str, Any]] = {"meta_cosine": None, "meta_parts": None}

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        meta = at.release.primary_meta(at.sae_id)
        if meta is None:
            return
        try:
            sae = load_sae(at.release, at.sae_id).sae
            meta_sae = load_meta_sae(at.release, meta.id, sae)
        except AtlasError:  # a meta-SAE still being trained is a missing lens, not an error
            return
        table = atomicity(build_decompositions(meta_sae, sae), meta_sae, sae)
        frame["meta_cosine"], frame["meta_parts"] = table["meta cosine"].to_numpy(), table["meta parts"].to_numpy()

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        if not known(row["meta_cosine"]):
            return []
        parts, cosine = int(row["meta_parts"]), float(row["meta_cosine"])
        if cosine >= COMPOSITION_COSINE and parts >= 2:
            return [(f"composition of {parts} parts · {cosine:.2f}", "violet")]
        return [(f"atom-like · {cosine:.2f}", "gray")]

    def missing(self, at: At) -> str | None:
        return self.needs if at.release.primary_meta(at.sae_id) is None else None


LENS = Atomicity()
