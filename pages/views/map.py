"""Latent map: a UMAP of decoder directions, coloured by meta-latent, density or novelty; click opens a card."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from backend.errors import AtlasError
from backend.latent_map import NO_META, latent_map
from backend.urlstate import MAP_COLOURS
from pages.views.common import (
    catalog,
    current_view,
    family_neighbours,
    map_data,
    meta_id_for,
    stitch_threshold,
)

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
    "#9c9ede",
    "#cedb9c",
    "#e7ba52",
    "#ad494a",
    "#de9ed6",
]
STATUS_COLOURS = {"novel": "#e6550d", "reconstruction": "#3182bd", "dead": "#bbbbbb"}
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
    if st.button("Compute the map", type="primary"):
        bar = st.progress(0.0, text="Loading the SAE…")

        def report(stage: str, done: int, total: int) -> None:
            bar.progress(done / total, text=f"{stage}: step {done} of {total}")

        try:
            latent_map(release, view.sae, report=report)
        except AtlasError as err:
            st.error(f"{err} Check that the SAE loads (SAE overview page), then try again.")
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

hover = "#%{customdata[0]} %{customdata[1]}"
marker: dict[str, object] = {"size": 3, "color": "#3182bd", "opacity": 0.7}
custom = np.stack([table["latent"].to_numpy(), table["label"].to_numpy()], axis=1)
if column == "meta":
    marker["color"] = [PALETTE[m % len(PALETTE)] if m != NO_META else "#cccccc" for m in table["meta"]]
    custom = np.column_stack([custom, table["meta label"].to_numpy()])
    hover += "<br>%{customdata[2]}"
elif column == "log10 density":
    marker.update(color=table[column], colorscale="Viridis", colorbar={"title": "log10 density"}, showscale=True)
    hover += "<br>log10 density %{marker.color:.2f}"
elif column == "status":
    marker["color"] = [STATUS_COLOURS[s] for s in table["status"]]
    custom = np.column_stack([custom, table["status"].to_numpy()])
    hover += "<br>%{customdata[2]}"

fig = go.Figure(
    go.Scattergl(
        x=table["x"], y=table["y"], mode="markers", marker=marker, customdata=custom,
        hovertemplate=hover + "<extra></extra>", name="latents",
    )
)  # fmt: skip
if 0 <= view.latent < len(table):
    row = table.iloc[view.latent]
    # An annotation, not a trace: it takes no clicks, so every click selects a latent.
    fig.add_annotation(x=row["x"], y=row["y"], text=f"#{view.latent}", showarrow=True, arrowhead=2, ax=30, ay=-30)
fig.update_layout(
    height=720, showlegend=False, margin={"t": 10, "b": 10, "l": 10, "r": 10}, dragmode="pan",
    xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
)  # fmt: skip
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
    st.switch_page("pages/views/latent.py", query_params=view.params(latent=int(points[0]["point_index"])))
