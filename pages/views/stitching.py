"""Stitching: novel vs reconstruction latents across the family, and curves from each SAE to the next."""

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from backend.core.errors import AtlasError
from backend.explore.exports import classification_table
from backend.explore.paper import stitching_differences
from backend.stitching.curves import ORDER_HELP, ORDERS, CurveConfig
from backend.stitching.matching import EDGE_FLOOR
from backend.web.render import md
from pages.access.actions import compute_curves, compute_matchings
from pages.access.indexes import latent_labels
from pages.access.state import catalog, current_view, stitch_threshold
from pages.access.stitching import classification, stitching_curves
from pages.sections.canonical_badges import complete_and_unique
from pages.sections.figures import stitching_figure
from pages.sections.nested import nested_note
from pages.sections.widgets import action_allowed, latent_link, progress_bar, table_downloads

KINDS = ("1→n", "n→1", "n→m", "1→1", "novel", "dropped")
SHOW = 40

view = current_view()
release = catalog()[view.release]
pairs = release.neighbour_pairs
st.header("SAE stitching")
st.caption(
    "Latents of a larger SAE whose decoder direction has cosine ≥ the threshold with one of the next smaller "
    "SAE's latents are *reconstruction* latents; the rest are *novel*. Stitching turns the smaller SAE into the "
    "larger one step by step, each latent keeping its own encoder, and measures the error on held-out tokens."
)
if not pairs:
    st.info(f"Release {release.title!r} has one SAE; stitching needs a family of at least two sizes.")
    st.stop()
nested_note(release)

cols = st.columns([2, 2, 2])
threshold = cols[0].slider("Reconstruction threshold (cosine)", EDGE_FLOOR, 0.95, stitch_threshold(view), 0.05)
order = cols[1].selectbox(
    "Step order", ORDERS, index=ORDERS.index(view.order), help=" · ".join(f"{k}: {v}" for k, v in ORDER_HELP.items())
)
with_loss = cols[2].toggle("Measure the model's next-token loss (slower)", value=True)
if (threshold, order) != (stitch_threshold(view), view.order):
    st.query_params.from_dict(view.params(st=threshold, order=order))
    st.rerun()
settings = CurveConfig(
    threshold=round(threshold, 3), order=view.order, loss_points=CurveConfig.loss_points if with_loss else 0
)
st.caption(
    f"Order — {order}: {ORDER_HELP[order]}. The decoder bias moves linearly from the smaller SAE's to the larger's."
)


def summary_table() -> pd.DataFrame | None:
    rows = []
    for small, large in pairs:
        found = classification(view.release, small, large, settings.threshold)
        if found is None:
            return None
        rows.append({"pair": f"{small}→{large}", **found.summary()})
    return pd.DataFrame(rows)


def compute(with_curves: bool) -> None:
    report = progress_bar("Starting…")
    try:
        if with_curves:
            compute_curves(view.release, settings, report)
        else:
            compute_matchings(view.release, report)
    except AtlasError as err:
        st.error(f"{md(err)} Nothing was lost: finished pairs are stored, and computing again resumes.")
        return
    st.rerun()


table = summary_table()
st.subheader("Novel and reconstruction latents per pair")
if table is None:
    st.info("The decoder matchings of this family are not computed yet (about a minute for the largest GPT-2 pairs).")
    if action_allowed("computing matchings", "python -m backend stitch") and st.button("Compute matchings"):
        compute(with_curves=False)
else:
    st.dataframe(
        table, hide_index=True, column_config={"novel fraction": st.column_config.NumberColumn(format="percent")}
    )
    st.subheader("Novel, and shared across seeds, by size")
    complete_and_unique(view.release)

st.subheader("Stitching curves")
curves = stitching_curves(view.release, settings)
if curves is None:
    st.info(
        "No curves for these settings yet. Computing them runs the SAEs (and the model, for the loss) on held-out tokens."
    )
    if action_allowed("computing curves", "python -m backend stitch") and st.button(
        "Compute stitching curves", type="primary"
    ):
        compute(with_curves=True)
else:
    tabs = st.tabs(["Error vs latents", "Error vs L0", "Next-token loss"])
    tabs[0].plotly_chart(
        stitching_figure(curves, "latents", "nmse", "latents (log)", "normalised MSE", True), width="stretch"
    )
    tabs[1].plotly_chart(
        stitching_figure(curves, "l0", "nmse", "L0 (active latents per token)", "normalised MSE", False),
        width="stretch",
    )
    if curves.loc[curves["kind"] == "curve", "dloss"].notna().any():
        tabs[2].plotly_chart(
            stitching_figure(curves, "latents", "dloss", "latents (log)", "Δ next-token loss (nats)", True),
            width="stretch",
        )
    else:
        tabs[2].info("Measured only with the loss toggle on.")

if table is not None:
    novel = dict(zip(table["pair"], table["novel fraction"], strict=True))
    # A nested family's novel fraction is the share of latents each prefix adds: no figure of the paper's to meet.
    differences = "" if release.nested else stitching_differences(novel, curves)
    if differences:
        st.info(differences, icon="📄")
    st.subheader("Components")
    left, right = st.columns(2)
    pair_names = [f"{a}→{b}" for a, b in pairs]
    chosen = left.selectbox("Pair", pair_names, index=len(pair_names) - 1)
    small, large = pairs[pair_names.index(chosen)]
    kind = right.selectbox(
        "Kind", KINDS, help="1→n: one latent split into n; n→1: merged; novel and dropped: unmatched."
    )
    found = classification(view.release, small, large, settings.threshold)
    assert found is not None
    classified = found
    table_downloads(
        lambda: classification_table(classified, small, large), f"{view.release}-{small}-{large}-stitching", "stitching"
    )
    small_labels, large_labels = latent_labels(view.release, small), latent_labels(view.release, large)

    def link(latent: int, sae_id: str, labels: Sequence[str] | None) -> None:
        latent_link(view, latent, labels[latent] if labels else "", sae=sae_id)

    if kind in ("novel", "dropped"):
        members = found.novel if kind == "novel" else found.dropped
        best_cos = found.large_cos if kind == "novel" else found.small_cos
        sae_id, labels = (large, large_labels) if kind == "novel" else (small, small_labels)
        ranked: list[int] = members[best_cos[members].argsort()].tolist()
        st.caption(
            f"{len(ranked):,} {kind} latents in SAE-{sae_id}, most novel first (lowest cosine with its closest "
            f"partner in the other SAE); the first {min(SHOW, len(ranked))}:"
        )
        for latent in ranked[:SHOW]:
            cols = st.columns([1, 6])
            cols[0].write(f"{float(best_cos[latent]):.2f}")
            with cols[1]:
                link(latent, sae_id, labels)
    else:
        chosen_components = [c for c in found.components if c.kind == kind]
        st.caption(
            f"{len(chosen_components):,} components of kind {kind}; the first {min(SHOW, len(chosen_components))}:"
        )
        heads = st.columns(2)
        heads[0].markdown(f"**SAE-{small}**")
        heads[1].markdown(f"**SAE-{large}**")
        for component in chosen_components[:SHOW]:
            with st.container(border=True):
                a, b = st.columns(2)
                with a:
                    for latent in component.small:
                        link(latent, small, small_labels)
                with b:
                    for latent in component.large:
                        link(latent, large, large_labels)
