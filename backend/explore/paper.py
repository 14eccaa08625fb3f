"""What the paper measured on its GPT-2 family, and one sentence on where a release differs from it.

Reference figures (Leask et al. 2025 and its posts; ../shared/DESIGN.md): Bloom's feature-splitting
SAEs on GPT-2 small, layer 8: standard ReLU SAEs with an L1 penalty, 8 sizes from 768 to 98,304
latents (1x-128x of d_model 768), L0 36-43, hundreds of millions of training tokens; about 35% of a
2x larger SAE's latents are novel at cosine 0.7; stitching curves fall monotonically; the meta-SAE
(2,304 meta-latents, k=4, on SAE-49152) explains about 55% of decoder-row variance.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from backend.models.formats import read_metrics
from backend.sources.release import Release


@dataclass(frozen=True)
class PaperFacts:
    novel_fraction: float = 0.35
    meta_variance_explained: float = 0.55
    meta_k: int = 4
    """Meta-latents kept per decoder row in the meta-SAE's training."""
    l0_fraction: tuple[float, float] = (36 / 768, 43 / 768)
    """L0 as a fraction of d_model."""
    sizes: int = 8
    multiples: tuple[int, int] = (1, 128)
    """Smallest and largest SAE as multiples of d_model."""
    train_tokens: str = "hundreds of millions"


PAPER = PaperFacts()
NOVEL_TOLERANCE = 0.10
"""Novel fractions within this of the paper's are not called a difference."""
RISE_TOLERANCE = 0.02
"""A curve that rises less than this above its smaller SAE counts as monotone (the issue's target)."""


def curve_rise(curves: pd.DataFrame) -> dict[str, float]:
    """Per pair: the curve's highest normalised MSE above its start, relative to the start."""
    lines = curves[curves["kind"] == "curve"]
    rises = {}
    for pair, group in lines.groupby("pair", sort=False):
        start = float(group["nmse"].iloc[0])
        rises[str(pair)] = (float(group["nmse"].max()) - start) / start if start > 0 else 0.0
    return rises


def stitching_differences(novel: dict[str, float], curves: pd.DataFrame | None) -> str:
    """One sentence on how a family's stitching differs from the paper's ("" when it does not)."""
    parts = []
    off = {pair: value for pair, value in novel.items() if abs(value - PAPER.novel_fraction) > NOVEL_TOLERANCE}
    if off:
        listed = ", ".join(f"{value:.0%} ({pair})" for pair, value in off.items())
        parts.append(f"novel fractions {listed} against about {PAPER.novel_fraction:.0%} in the paper")
    if curves is not None:
        rising = {pair: rise for pair, rise in curve_rise(curves).items() if rise > RISE_TOLERANCE}
        if rising:
            listed = ", ".join(f"{pair} +{rise:.0%}" for pair, rise in rising.items())
            parts.append(f"curves that rise above the smaller SAE before falling ({listed}) where the paper's fall")
    return f"Where this family differs from the paper: {'; '.join(parts)}." if parts else ""


@dataclass(frozen=True)
class FamilySetting:
    """What a family's sentence compares with the paper, from its SAEs and the metrics its build stored."""

    d_model: int
    l0: list[float]
    multiples: tuple[float, float]
    """Smallest and largest SAE as multiples of d_model."""
    n_sizes: int
    train_tokens: int | None
    meta_ve: float | None
    """The first meta-SAE's variance explained of decoder rows."""
    meta_k: int | None = None

    @classmethod
    def of(cls, release: Release, sizes: dict[str, int], d_model: int) -> "FamilySetting":
        """From `sizes` (d_sae per SAE id), the SAEs' width and the metrics stored beside each member."""
        metrics = [read_metrics(Path(e.location.path), e.prefix) or {} for e in release.saes] if release.built else []
        metas = [read_metrics(Path(m.location.path)) or {} for m in release.meta_saes] if release.built else []
        return cls(
            d_model,
            [m["l0"] for m in metrics if "l0" in m],
            (min(sizes.values()) / d_model, max(sizes.values()) / d_model),
            len(sizes),
            int(metrics[-1]["train_tokens"]) if metrics and "train_tokens" in metrics[-1] else None,
            metas[0].get("variance_explained") if metas else None,
            release.meta_saes[0].k if release.meta_saes else None,
        )


def family_differences(setting: FamilySetting) -> str:
    """One sentence on how a family's setting and meta-SAE differ from the paper's."""
    parts = []
    low, high = PAPER.l0_fraction
    d_model, l0, multiples, n_sizes = setting.d_model, setting.l0, setting.multiples, setting.n_sizes
    train_tokens, meta_ve, meta_k = setting.train_tokens, setting.meta_ve, setting.meta_k
    if l0 and (min(l0) < 0.5 * low * d_model or max(l0) > 2 * high * d_model):
        parts.append(
            f"L0 {min(l0):.0f}-{max(l0):.0f} ({min(l0) / d_model:.1%}-{max(l0) / d_model:.1%} of d_model; "
            f"paper {low:.1%}-{high:.1%})"
        )
    if n_sizes != PAPER.sizes or multiples != PAPER.multiples:
        parts.append(
            f"{n_sizes} sizes from {multiples[0]:g}x to {multiples[1]:g}x d_model (paper {PAPER.sizes}, "
            f"{PAPER.multiples[0]}x to {PAPER.multiples[1]}x)"
        )
    if train_tokens is not None:
        parts.append(f"{train_tokens / 1e6:.1f}M training tokens (paper: {PAPER.train_tokens})")
    if meta_ve is not None and meta_ve < PAPER.meta_variance_explained - 0.05:
        parts.append(
            f"the meta-SAE explains {meta_ve:.0%} of decoder-row variance (paper about "
            f"{PAPER.meta_variance_explained:.0%})"
        )
    if meta_k is not None and meta_k != PAPER.meta_k:
        parts.append(f"the meta-SAE was trained with k={meta_k} meta-latents per decoder row (paper k={PAPER.meta_k})")
    return f"Where this family differs from the paper: {'; '.join(parts)}." if parts else ""
