"""Meta-SAE sections shared by the latent and meta-latent cards (rendering only)."""

from collections.abc import Sequence

import streamlit as st

from backend.core.errors import AtlasError
from backend.explore.exports import decomposition_table
from backend.metasae.decompose import Decompositions, meta_label
from backend.metasae.graph import related_graph
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.indexes import latent_labels, meta_names
from pages.access.saes import decompositions, meta_logit_lens, row_cosine
from pages.access.state import page
from pages.sections.figures import decomposition_bars, related_graph_figure
from pages.sections.widgets import latent_link, meta_link, table_downloads


def threshold_control(view: View, table: Decompositions) -> float:
    """A slider for the decomposition threshold, kept in the URL (`t`)."""
    current = view.threshold if view.threshold is not None else table.default_threshold
    current = min(max(current, table.floor), 4 * table.default_threshold)
    chosen = st.slider(
        "Meta-latent threshold",
        min_value=float(table.floor),
        max_value=float(4 * table.default_threshold),
        value=float(current),
        step=float(table.floor / 10),
        format="%.3f",
        help=f"Meta-latents below this activation are left out. The meta-SAE's own threshold is {table.default_threshold:.3f}.",
    )
    if abs(chosen - current) > 1e-9:
        st.query_params.from_dict(view.params(t=round(chosen, 4)))
    return chosen


def logit_lens_table(view: View, meta_id: str, meta_latent: int) -> None:
    """The tokens a meta-latent's decoder direction promotes and suppresses (cached per meta-latent)."""
    try:
        lens = meta_logit_lens(view.release, meta_id, meta_latent)
    except AtlasError as err:
        st.caption(f"No logit lens: the model is not available ({md(err)}).")
        return
    pos, neg = st.columns(2)
    pos.dataframe({"promoted": lens.promoted, "logit": lens.promoted_logits}, hide_index=True)
    neg.dataframe({"suppressed": lens.suppressed, "logit": lens.suppressed_logits}, hide_index=True)


def decomposition_section(view: View, meta_id: str, latent: int) -> None:
    try:
        table = decompositions(view.release, meta_id)
    except AtlasError as err:
        st.error(f"The meta-SAE cannot be loaded: {md(err)}")
        return
    labels = latent_labels(view.release, view.sae) or ()
    st.subheader(f"Decomposition by meta-SAE {meta_id}")
    threshold = threshold_control(view, table)
    parts = table.of_latent(latent, threshold)
    st.caption(
        f"Meta-latents active on this latent's unit-norm decoder row. At the meta-SAE's threshold they "
        f"reconstruct the row with cosine {row_cosine(view.release, meta_id, latent):.3f}."
    )
    if not parts:
        st.info("No meta-latent is active on this latent at this threshold.")
        return
    shared = meta_names(view.release, meta_id) if threshold == table.default_threshold else None
    names = [shared[m] if shared else meta_label(table.members(m, threshold), labels) for m, _ in parts]
    fig = decomposition_bars([f"{m}: {name}" for (m, _), name in zip(parts, names, strict=True)], [v for _, v in parts])
    st.plotly_chart(fig, width="stretch")
    for (meta, value), name in zip(parts, names, strict=True):
        meta_link(view, meta, name, value=f"{value:.3f}")
    st.caption("Every latent's decomposition at this threshold (latent, meta-latent, activation):")
    table_downloads(
        lambda: decomposition_table(table, threshold), f"{view.release}-{meta_id}-decompositions", "decompositions"
    )
    related_section(view, table, latent, threshold, labels)


def related_section(view: View, table: Decompositions, latent: int, threshold: float, labels: Sequence[str]) -> None:
    st.subheader("Related latents (shared meta-latents)")
    fig = related_graph_figure(related_graph(table, latent, threshold=threshold), labels)
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points", key=f"graph-{latent}")
    points = event.selection.points if event else []
    if points:
        kind, index = points[0]["customdata"]
        if kind == "meta":
            st.switch_page(page("meta"), query_params=view.params(m=int(index)))
        elif int(index) != latent:
            st.query_params.from_dict(view.params(latent=int(index)))
            st.rerun()
    st.caption("Click a node to open it. Ranked list: the dot product of the two decompositions.")
    for other, score, shared in table.related(latent, 15, threshold):
        via = ", ".join(str(m) for m in shared)
        latent_link(view, other, labels[other], value=f"{score:.3f} via {via}")
