"""Novel or reconstruction (the paper's stitching): a latent with no partner at decoder cosine >= 0.7 in the next
smaller SAE is novel; one with a partner in the next larger SAE is kept. Read from the pair matchings the family
builds (backend/stitching/family.py), so it has no artifact of its own."""

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from backend.lenses.lens import At, Badge, Lens, Measure, known
from backend.models.headers import SAEOutline
from backend.stitching.family import pair_classification
from backend.stitching.matching import DEFAULT_THRESHOLD


class Stitching(Lens):
    name = "stitching"
    needs = "Novel or reconstruction: the pair matchings of neighbouring sizes (built with the family)."
    columns: ClassVar[dict[str, Any]] = {"novel": None, "kept": None}
    compared = (
        Measure(
            "novel_fraction", "novel fraction", "lower",
            nested="each wider prefix keeps the narrower one's latents and adds as many, so about half are new",
        ),
    )  # fmt: skip

    def fill(self, frame: pd.DataFrame, at: At) -> None:
        if at.smaller and (found := pair_classification(at.release, at.smaller, at.sae_id, DEFAULT_THRESHOLD)):
            novel = np.zeros(len(frame), dtype=bool)
            novel[found.novel.numpy()] = True
            frame["novel"] = novel
        if at.larger and (found := pair_classification(at.release, at.sae_id, at.larger, DEFAULT_THRESHOLD)):
            frame["kept"] = found.small_cos.numpy() >= DEFAULT_THRESHOLD

    def family(self, at: At, sae: SAEOutline) -> dict[str, float]:
        found = pair_classification(at.release, at.smaller, at.sae_id, DEFAULT_THRESHOLD) if at.smaller else None
        live = (found.n_large - len(found.dead_large)) if found else 0
        return {"novel_fraction": len(found.novel) / live if found and live else np.nan}

    def badges(self, row: pd.Series, at: At) -> list[Badge]:
        found: list[Badge] = []
        if known(row["novel"]):
            found.append((f"novel vs SAE-{at.smaller}", "orange") if row["novel"] else
                         (f"reconstructs SAE-{at.smaller}", "blue"))  # fmt: skip
        if known(row["kept"]):
            found.append((f"kept in SAE-{at.larger}", "green") if row["kept"] else
                         (f"dropped in SAE-{at.larger}", "gray"))  # fmt: skip
        return found


LENS = Stitching()
