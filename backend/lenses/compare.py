"""Families trained from the same data, side by side (the question after the paper: does another way of training
find more canonical units?): every lens's per-size figure that a lens marks `compared`, and each SAE's quality, one
row per family and size; and one sentence per figure on which family does better at the sizes both have, by how
much, and whether that agrees with what the Matryoshka paper reports."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.lenses.kinds import LENSES
from backend.lenses.lens import Measure
from backend.sources.release import Release

QUALITY = (
    Measure("fvu", "FVU", "lower", matryoshka_paper="higher", share=False),
    Measure("l0", "L0", None, share=False),
    Measure("dloss", "Δ next-token loss (nats)", "lower", share=False),
    Measure("nn_cosine", "nearest-neighbour decoder cosine", None, share=False),
)
"""Each SAE's reconstruction, sparsity and cost to the model, and how redundant its dictionary is (the mean cosine of
each decoder row with its nearest other row: the more alike a dictionary's rows, the more easily any latent finds a
partner at cosine 0.7, in a larger SAE, a second seed or another family). The Matryoshka paper reports slightly worse
reconstruction at matched sparsity, and similar downstream loss."""
MEASURES: tuple[Measure, ...] = (*QUALITY, *(measure for lens in LENSES for measure in lens.compared))
META = (
    Measure("variance_explained", "meta-SAE variance explained", "lower"),
    Measure("coherence_ratio", "meta-latents' member coherence over random", "higher", share=False),
    Measure("wordnet_ratio", "meta-latents' WordNet category agreement over chance", "higher", share=False),
)
"""Each family's meta-SAE over its largest SAE. Lower variance explained: its latents are less compositions of
shared meta-latents (more atomic, by the paper's measure); higher ratios: the meta-latents mean more."""


def with_quality(
    table: pd.DataFrame, metrics: dict[str, dict[str, float]], curves: pd.DataFrame | None
) -> pd.DataFrame:
    """`family_lenses`' table (one row per SAE) with each SAE's FVU, L0 and nearest-neighbour decoder cosine from its
    build's `metrics` and its Δ next-token loss from the family's stitching `curves` (NaN where there are none)."""
    loss: dict[str, float] = {}
    if curves is not None:
        points = curves[curves["kind"] == "sae"]
        loss = dict(zip(points["pair"].str.removeprefix("SAE-"), points["dloss"], strict=True))
    ids = list(table["sae"]) if "sae" in table else []
    return table.assign(
        fvu=[metrics.get(sae_id, {}).get("fvu", np.nan) for sae_id in ids],
        l0=[metrics.get(sae_id, {}).get("l0", np.nan) for sae_id in ids],
        dloss=[loss.get(sae_id, np.nan) for sae_id in ids],
        nn_cosine=[metrics.get(sae_id, {}).get("nn_cosine_mean", np.nan) for sae_id in ids],
    )


def meta_row(family: str, latents: int, metrics: dict[str, float], wordnet_ratio: float | None) -> dict[str, object]:
    """One family's meta-SAE figures (`META`) from its build's metrics and its meta-latents' WordNet judgement."""
    baseline = metrics.get("coherence_random_baseline")
    coherence = metrics.get("coherence_mean")
    return {
        "family": family,
        "latents": latents,
        "variance_explained": metrics.get("variance_explained", np.nan),
        "coherence_ratio": coherence / baseline if coherence is not None and baseline else np.nan,
        "wordnet_ratio": wordnet_ratio if wordnet_ratio is not None else np.nan,
    }


def side_by_side(families: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per family and size (`latents`), one column per measure that any family has; `families` maps a
    family's name to its per-size table (`family_lenses` joined with its quality columns)."""
    frames = []
    for name, table in families.items():
        if "latents" not in table:  # no SAE of it is built yet
            continue
        shown = [m.column for m in MEASURES if m.column in table]
        frames.append(table[["latents", *shown]].assign(family=name))
    if not frames:
        return pd.DataFrame(columns=["family", "latents"])
    joined = pd.concat(frames, ignore_index=True)
    return joined[["family", "latents", *(c for c in joined if c not in ("family", "latents"))]]


def _sizes(table: pd.DataFrame, first: str, second: str, column: str) -> pd.DataFrame:
    """The sizes both families have a value of `column` at: columns latents, first, second."""
    if column not in table:
        return pd.DataFrame(columns=["latents", first, second])
    wide = table.pivot_table(index="latents", columns="family", values=column, aggfunc="first")
    if first not in wide or second not in wide:
        return pd.DataFrame(columns=["latents", first, second])
    return wide[[first, second]].dropna().reset_index()


@dataclass(frozen=True)
class Comparison:
    """Two families compared figure by figure: `second` against `first` (family names)."""

    first: str
    second: str
    nested: str | None
    """The family of nested prefixes (a Matryoshka SAE) among all compared, if any."""
    control: bool = False
    """`first` is `second`'s control (`Release.control`): they differ in one way only."""
    paper: bool = False
    """This is the Matryoshka paper's comparison, whose reports are set beside the figures: the nested family against
    its control where that is built, else against the data's own family."""

    @property
    def heading(self) -> str:
        if not self.control:
            return f"{self.second} against {self.first}"
        paper = ", as in the Matryoshka paper" if self.paper else ""
        return f"{self.second} against {self.first} (its control: they differ in one way only{paper})"


def comparisons(families: list[Release]) -> list[Comparison]:
    """Each family against the data's own (the first of `families`, `catalog.families_of`), then each family against
    its control (`Release.control`) where that is among them."""
    if len(families) < 2:
        return []
    names = {family.id: family.family_name for family in families}
    first = families[0].family_name
    nested = next((family.family_name for family in families if family.nested), None)
    controls = {family.family_name: names[family.control] for family in families if family.control in names}
    found = [
        Comparison(first, other.family_name, nested, paper=other.family_name == nested and nested not in controls)
        for other in families[1:]
        if controls.get(other.family_name) != first  # else it is its control comparison, below
    ]
    return found + [Comparison(c, name, nested, control=True, paper=name == nested) for name, c in controls.items()]


def said(families: list[Release], table: pd.DataFrame, metas: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(heading, sentences) for each comparison of `families` (`comparisons`) on their side-by-side `table`
    (`side_by_side`) and their meta-SAEs (`metas`, `META`); comparisons with nothing to say left out."""
    grouped = [(c.heading, findings(table, c) + findings(metas, c, META)) for c in comparisons(families)]
    return [(heading, sentences) for heading, sentences in grouped if sentences]


def finding(table: pd.DataFrame, measure: Measure, compared: Comparison) -> str | None:
    """One sentence comparing the second family with the first on `measure` over the sizes both have (None below
    one), with the Matryoshka paper's report where `compared` is its comparison."""
    first, second, nested = compared.first, compared.second, compared.nested
    both = _sizes(table, first, second, measure.column)
    if both.empty:
        return None
    a, b = both[first].to_numpy(dtype=float), both[second].to_numpy(dtype=float)
    if len(both) == 1:
        said = (
            f"{measure.label} at {int(both['latents'].iloc[0]):,} latents: {second} {measure.said(float(b[0]))} "
            f"against {measure.said(float(a[0]))} for {first}"
        )
    else:
        said = (
            f"{measure.label}: {second} is higher at {int((b > a).sum())} of {len(both)} sizes, lower at "
            f"{int((b < a).sum())} (mean {measure.said(float(b.mean()))} against {measure.said(float(a.mean()))} for "
            f"{first})"
        )
    if measure.said(float(a.mean())) == measure.said(float(b.mean())):  # no difference at the precision said
        return said + "; the same on the mean."
    if measure.nested and nested in (first, second):
        return said + f"; not a contest: in the {nested} family {measure.nested}."
    if measure.better is not None:
        higher = second if b.mean() > a.mean() else first
        winner = higher if measure.better == "higher" else (first if higher == second else second)
        said += f"; {measure.better} is better here, so {winner} does better{' on the mean' if len(both) > 1 else ''}"
    if measure.matryoshka_paper is not None and compared.paper:
        ours, other = (b, a) if nested == second else (a, b)
        went, paper = ("higher" if ours.mean() > other.mean() else "lower"), measure.matryoshka_paper
        said += (
            f". As the Matryoshka paper reports, it is {paper} for the Matryoshka SAEs" if went == paper else
            f". The Matryoshka paper reports it {paper} for Matryoshka SAEs; here it is {went}"
        )  # fmt: skip
    return said + "."


def findings(table: pd.DataFrame, compared: Comparison, measures: tuple[Measure, ...] = MEASURES) -> list[str]:
    """One sentence per measure of `compared` on `table` (`side_by_side`'s, or one of each family's meta-SAE with
    `META`)."""
    sentences = (finding(table, measure, compared) for measure in measures)
    return [sentence for sentence in sentences if sentence is not None]
