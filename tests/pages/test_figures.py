"""The pages' figures from plain data, without Streamlit."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backend.explore.latent_map import NO_META
from backend.metasae.graph import Graph
from backend.metasae.graph import Node as GraphNode
from backend.stitching.lineage import Lineage, Node
from pages.sections.figures import (
    LINEAGE_COLOURS,
    PALETTE,
    STATUS_COLOURS,
    atomicity_histogram,
    decomposition_bars,
    edge_width,
    families_figure,
    latent_map_figure,
    lineage_figure,
    meta_activation_histogram,
    related_graph_figure,
    stitching_figure,
)


def test_decomposition_bars_put_the_strongest_on_top() -> None:
    fig = decomposition_bars(["a", "b", "c"], [0.9, 0.5, 0.1])
    bar = fig.data[0]
    assert list(bar.y) == ["c", "b", "a"] and list(bar.x) == [0.1, 0.5, 0.9]


def test_stitching_figure_draws_error_bars_where_the_curves_store_them() -> None:
    curves = pd.DataFrame(
        {
            "pair": ["SAE-1", "SAE-2", "1→2", "1→2"],
            "kind": ["sae", "sae", "curve", "curve"],
            "latents": [1, 2, 1, 2],
            "dloss": [0.3, 0.2, 0.3, 0.2],
            "dloss_se": [0.01, 0.02, 0.01, 0.02],
            "nmse": [0.5, 0.4, 0.5, 0.4],
        }
    )
    with_bars = stitching_figure(curves, "latents", "dloss", "latents", "Δ loss", True)
    assert list(with_bars.data[0].error_y.array) == [0.01, 0.02]
    without = stitching_figure(curves, "latents", "nmse", "latents", "nMSE", True)
    assert without.data[0].error_y.array is None
    assert with_bars.layout.xaxis.type == "log"


def test_latent_map_colours_by_status_and_marks_the_latent() -> None:
    table = pd.DataFrame(
        {"latent": np.arange(3), "label": ["a", "b", "c"], "x": [0.0, 1, 2], "y": [0.0, 1, 0],
         "status": ["novel", "reconstruction", "dead"]}
    )  # fmt: skip
    fig = latent_map_figure(table, "status", marked=1)
    assert drawn_colours(fig.data[0].marker) == [STATUS_COLOURS[s] for s in table["status"]]
    assert list(fig.data[0].customdata) == [0, 1, 2] and list(fig.data[0].hovertext) == ["a<br>novel",
                                                                                      "b<br>reconstruction", "c<br>dead"]  # fmt: skip
    assert fig.layout.annotations[0].text == "#1"
    assert not latent_map_figure(table, "", marked=None).layout.annotations


def drawn_colours(marker: go.scattergl.Marker) -> list[str]:
    """The colour each point gets from its numeric code on the marker's stepped colour scale."""
    span = marker.cmax - marker.cmin
    at = [(code - marker.cmin) / span for code in marker.color]
    return [next(colour for edge, colour in marker.colorscale[1::2] if x <= edge) for x in at]


def test_latent_map_colours_meta_latents_repeating_and_greys_latents_without_one() -> None:
    table = pd.DataFrame(
        {"latent": np.arange(4), "label": ["<b>a</b>", "b", "c", "d"], "x": [0.0, 1, 2, 3], "y": [0.0, 1, 0, 1],
         "meta": [0, 25, NO_META, 3], "meta label": ["m0", "m25", "none", "m3"]}
    )  # fmt: skip
    fig = latent_map_figure(table, "meta", marked=None)
    assert drawn_colours(fig.data[0].marker) == [PALETTE[0], PALETTE[1], "#cccccc", PALETTE[3]]
    assert fig.data[0].hovertext[0] == "&lt;b&gt;a&lt;/b&gt;<br>m0"


def test_lineage_figure_marks_the_latent_and_carries_each_nodes_card() -> None:
    tree = Lineage(
        sae_ids=["4", "8"],
        nodes=[Node(0, 2), Node(1, 5), Node(1, 6)],
        edges=[(0, 1, 0.9), (0, 2, 0.75)],
        current=1,
    )
    fig = lineage_figure(tree, {"4": ["a", "b", "parent"], "8": None})
    nodes = fig.data[-1]
    assert [list(c) for c in nodes.customdata] == [["4", 2], ["8", 5], ["8", 6]]
    assert list(nodes.marker.color) == [LINEAGE_COLOURS["split"], LINEAGE_COLOURS["current"], LINEAGE_COLOURS["latent"]]
    assert nodes.text[0] == "#2 parent"
    assert len(fig.data) == 3, "one trace per line width, then the nodes"
    widths = [trace.line.width for trace in fig.data[:-1]]
    assert widths == [edge_width(0.75), edge_width(0.9)] == [2.5, 3.5], "thicker for the closer pair"
    assert list(fig.data[1].x) == [nodes.x[0], nodes.x[1], None], "the 0.9 edge joins the parent and latent 5"
    # The parent sits above its children, centred between them.
    assert nodes.y[0] > nodes.y[1] == nodes.y[2] and nodes.x[0] == 0 == (nodes.x[1] + nodes.x[2])


def test_related_graph_draws_every_edge_in_one_trace() -> None:
    nodes = [
        GraphNode("latent", 7, 0.0, 0.0, 1.0),
        GraphNode("meta", 3, 1.0, 0.0, 0.5),
        GraphNode("member", 9, 2.0, 1.0, 0.2),
    ]
    fig = related_graph_figure(Graph(nodes, [(0, 1, 0.5), (1, 2, 0.2)]), ["x"] * 10)
    edges = fig.data[0]
    assert list(edges.x) == [0.0, 1.0, None, 1.0, 2.0, None] and list(edges.y) == [0.0, 0.0, None, 0.0, 1.0, None]
    assert [list(t.customdata[0]) for t in fig.data[1:]] == [["latent", 7], ["meta", 3], ["member", 9]]


def test_histograms_bin_the_finite_values_and_mark_their_cut_offs() -> None:
    cosines = np.array([0.1, 0.2, 0.5, 0.9, 0.95, np.nan])
    fig = atomicity_histogram(cosines, composition=0.8, atom=0.3)
    assert sum(fig.data[0].y) == 5, "NaN is left out, every other value counted once"
    lines = [(shape.x0, shape.line.dash) for shape in fig.layout.shapes]
    assert lines == [(0.3, "dot"), (0.8, "dash")] and fig.layout.height == 280
    meta = meta_activation_histogram(np.array([0.0, 1.0, 2.0]), threshold=0.5)
    assert [(s.x0, s.line.dash) for s in meta.layout.shapes] == [(0.5, "dash")]
    assert meta.layout.yaxis.title.text == "decoder rows"


def test_the_families_figure_has_a_panel_per_measure_a_line_per_family_on_the_same_sizes() -> None:
    table = pd.DataFrame(
        {"family": ["a", "a", "b<i>", "b<i>"], "latents": [64, 128, 64, 128], "fvu": [0.3, 0.2, 0.25, 0.15],
         "novel_fraction": [np.nan, 0.4, np.nan, 0.5]}
    )  # fmt: skip
    fig = families_figure(table, [("fvu", "FVU"), ("novel_fraction", "novel fraction")])
    assert [(t.name, list(t.x)) for t in fig.data] == [
        ("a", [64, 128]), ("b&lt;i&gt;", [64, 128]), ("a", [128]), ("b&lt;i&gt;", [128])
    ]  # fmt: skip
    assert [t.showlegend for t in fig.data] == [True, True, False, False]
    assert fig.layout.xaxis.range == fig.layout.xaxis2.range  # both panels over the same sizes
