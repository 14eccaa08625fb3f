"""The pages' figures from plain data, without Streamlit."""

import numpy as np
import pandas as pd

from backend.stitching.lineage import Lineage, Node
from pages.views.figures import (
    LINEAGE_COLOURS,
    STATUS_COLOURS,
    decomposition_bars,
    latent_map_figure,
    lineage_figure,
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
    assert list(fig.data[0].marker.color) == [STATUS_COLOURS[s] for s in table["status"]]
    assert fig.layout.annotations[0].text == "#1"
    assert not latent_map_figure(table, "", marked=None).layout.annotations


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
    assert len(fig.data) == 3, "one line per edge, then the nodes"
    # The parent sits above its children, centred between them.
    assert nodes.y[0] > nodes.y[1] == nodes.y[2] and nodes.x[0] == 0 == (nodes.x[1] + nodes.x[2])
