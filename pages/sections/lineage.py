"""The lineage section of the latent card: the tree across the family's sizes, and the closest latent in each
smaller SAE (rendering only; the logic is backend/stitching/lineage.py)."""

from collections.abc import Sequence

import streamlit as st

from backend.core.errors import AtlasError
from backend.stitching.lineage import PER_LEVEL, Lineage
from backend.stitching.matching import EDGE_FLOOR
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.indexes import latent_labels
from pages.access.state import catalog, stitch_threshold
from pages.access.stitching import closest_in_smaller, family_lineage
from pages.sections.build_status import still_building
from pages.sections.figures import lineage_figure
from pages.sections.widgets import latent_link


def slider_key(latent: int) -> str:
    """The lineage threshold slider's widget key: the badges above it read the value just chosen."""
    return f"lineage-{latent}"


def lineage_section(view: View, latent: int) -> None:
    release = catalog()[view.release]
    if len(release.sae_ids) < 2:
        return
    st.subheader("Lineage across sizes")
    building = still_building(release)
    if building:
        names = ", ".join(f"SAE-{sae_id}" for sae_id in building)
        st.info(
            f"The lineage needs every size of the family; {names} {'is' if len(building) == 1 else 'are'} still being built."
        )
        return
    threshold = st.slider(
        "Decoder cosine at least",
        EDGE_FLOOR,
        1.0,
        float(stitch_threshold(view)),
        step=0.05,
        key=slider_key(latent),
        help="Latents of neighbouring sizes are joined when their decoder rows are at least this close "
        "(the stitching threshold: shared with the Stitching page).",
    )
    if abs(threshold - stitch_threshold(view)) > 1e-9:
        st.query_params.from_dict(view.params(st=round(threshold, 3)))
    try:
        tree = family_lineage(view.release, view.sae, latent, threshold)
    except AtlasError as err:
        st.error(f"The lineage cannot be drawn: {md(err)}")
        return
    labels: dict[str, Sequence[str] | None] = {
        sae_id: latent_labels(view.release, sae_id) for sae_id in release.sae_ids
    }
    event = st.plotly_chart(
        lineage_figure(tree, labels), width="stretch", on_select="rerun", selection_mode="points", key=f"tree-{latent}"
    )
    points = event.selection.points if event else []
    if points:
        sae_id, other = points[0]["customdata"]
        if (sae_id, int(other)) != (view.sae, latent):
            st.query_params.from_dict(view.params(sae=sae_id, latent=int(other)))
            st.rerun()
    st.caption(_caption(tree, threshold))
    across_sizes_list(view, latent)


SHAPES = {
    "1→n": "It splits into several latents of the next size.",
    "n→1": "Several latents of the next smaller size merge into it.",
    "n→m": "It both splits and merges.",
}


def _caption(tree: Lineage, threshold: float) -> str:
    said = SHAPES.get(tree.shape(tree.current), "")
    hidden = sum(tree.hidden.values())
    more = f" {hidden} more latents above the threshold are left out (at most {PER_LEVEL} per size)." if hidden else ""
    return (
        f"Red: this latent; orange: splits and merges. Edges join neighbouring sizes at decoder cosine ≥ {threshold:.2f}, "
        f"thicker when closer; click a node to open its card. {said}{more}"
    )


def across_sizes_list(view: View, latent: int) -> None:
    """Its closest latents in every smaller SAE, whatever the cosine, when asked for: a toggle rather than an
    expander, since an expander's links are drawn (and cost the server) on every rerun even while it is closed."""
    ids = catalog()[view.release].sae_ids
    if not ids[: ids.index(view.sae)]:
        return
    if not st.toggle("Closest latents in every smaller SAE (any cosine)", key=f"closest-{latent}"):
        return
    try:
        matches = closest_in_smaller(view.release, view.sae, latent)
    except AtlasError as err:
        st.caption(f"The smaller SAEs are not available ({md(err)}).")
        return
    with st.container(border=True):
        for sid, found in matches.items():
            st.markdown(f"**SAE {sid}**")
            small_labels = latent_labels(view.release, sid)
            for other, cosine in found:
                latent_link(view, other, small_labels[other] if small_labels else "", sae=sid, value=f"{cosine:.3f}")
