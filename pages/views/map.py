"""Latent map: a UMAP of decoder directions, coloured by meta-latent, density or novelty; click opens a card."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.web.render import md
from backend.web.urlstate import MAP_COLOURS
from pages.access.actions import compute_map
from pages.access.state import catalog, current_view, family_neighbours, meta_id_for, page, stitch_threshold
from pages.access.stitching import map_data
from pages.sections.figures import STATUS_COLOURS, latent_map_figure
from pages.sections.widgets import action_allowed, progress_bar

COLOUR_HELP = {
    "meta-latent": "each latent's strongest meta-latent (colours repeat every 24 meta-latents; hover names it)",
    "density": "log10 of the fraction of indexed tokens where the latent fires",
    "novelty": "novel or reconstruction against the next smaller SAE of the family (Stitching page)",
}

view = current_view()
release = catalog()[view.release]
st.header(f"Latent map · SAE {view.sae}")
colour = st.radio(
    "Colour by", MAP_COLOURS, index=MAP_COLOURS.index(view.colour), horizontal=True,
    help=" · ".join(f"{k}: {v}" for k, v in COLOUR_HELP.items()),
)  # fmt: skip
if colour != view.colour:
    st.query_params.from_dict(view.params(colour=colour))
    st.rerun()

table = map_data(view.release, view.sae, meta_id_for(view), family_neighbours(view)[0], stitch_threshold(view))
if table is None:
    st.info(
        "This SAE has no map yet. It is a UMAP of the decoder directions (cosine metric, seeded): "
        "about 30 s for 9,216 latents and a minute for 49,152 on two CPU cores, computed once and stored."
    )
    if action_allowed("computing a map", "python -m backend build") and st.button("Compute the map", type="primary"):
        report = progress_bar("Loading the SAE…")
        try:
            compute_map(view.release, view.sae, report)
        except AtlasError as err:
            st.error(f"{md(err)} Check that the SAE loads (SAE overview page), then try again.")
            st.stop()
        st.rerun()
    st.stop()

column = {"meta-latent": "meta", "density": "log10 density", "novelty": "status"}[colour]
if column not in table:
    reasons = {
        "meta": "no meta-SAE decomposes this SAE",
        "log10 density": "this SAE has no index",
        "status": "it is the smallest SAE of its family, or its matching is not computed (Stitching page)",
    }
    st.warning(f"Cannot colour by {colour}: {reasons[column]}. Showing plain points.")
    column = ""

fig = latent_map_figure(table, column, view.latent)
if column == "status":
    counts = table["status"].value_counts()
    st.caption(" · ".join(f"{name}: {counts.get(name, 0):,}" for name in STATUS_COLOURS))
st.caption(f"{len(table):,} latents, WebGL. Click a point to open its card; the arrow marks latent {view.latent}.")
event = st.plotly_chart(
    fig,
    on_select="rerun",
    selection_mode="points",
    key=f"map-{view.release}-{view.sae}-{colour}",
    config={"scrollZoom": True},
)
points = event.selection.points if event and event.selection else []
if points:
    st.switch_page(page("latent"), query_params=view.params(latent=int(points[0]["point_index"])))
