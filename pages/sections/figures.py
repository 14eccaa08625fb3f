"""Every Plotly figure the pages draw, built from plain data by pure functions (testable without a browser)."""

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backend.explore.latent_map import NO_META
from backend.metasae.graph import Graph
from backend.stitching.lineage import Lineage, layout

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#636363", "#9c9ede", "#cedb9c", "#e7ba52", "#ad494a", "#de9ed6",
]  # fmt: skip
"""Colours of meta-latents on the map (they repeat every 24)."""
STATUS_COLOURS = {"novel": "#e6550d", "reconstruction": "#3182bd", "dead": "#bbbbbb"}
NODE_COLOURS = {"latent": "#c0392b", "meta": "#2e86de", "member": "#95a5a6"}
LINEAGE_COLOURS = {"current": "#c0392b", "split": "#e67e22", "latent": "#2e86de"}
TIGHT = {"t": 10, "b": 30, "l": 10, "r": 10}


def plain(label: str) -> str:
    """A label from the data as Plotly text: Plotly renders a subset of HTML (links included), so escape it."""
    return html.escape(str(label), quote=True)


def decomposition_bars(names: Sequence[str], values: Sequence[float]) -> go.Figure:
    """Horizontal bars, strongest on top: one per meta-latent of a decomposition."""
    return go.Figure(
        go.Bar(x=list(values)[::-1], y=list(names)[::-1], orientation="h"),
        layout={"height": 60 + 28 * len(names), "margin": TIGHT, "xaxis": {"title": {"text": "activation"}}},
    )


def related_graph_figure(graph: Graph, labels: Sequence[str]) -> go.Figure:
    """The latent, its meta-latents and their other members; each node carries [kind, index] as customdata."""
    # Every edge in one trace, broken by None, and the figure made in one call: a trace per edge, each added on its
    # own, made this figure a large part of a latent card's rerun (Plotly validates on every call).
    xs = [x for a, b, _ in graph.edges for x in (graph.nodes[a].x, graph.nodes[b].x, None)]
    ys = [y for a, b, _ in graph.edges for y in (graph.nodes[a].y, graph.nodes[b].y, None)]
    traces = [
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#ccc", "width": 1}, hoverinfo="skip", showlegend=False)
    ]
    for kind, colour in NODE_COLOURS.items():
        nodes = [n for n in graph.nodes if n.kind == kind]
        text = [f"meta {n.index}" if kind == "meta" else f"#{n.index} {plain(labels[n.index])}" for n in nodes]
        traces.append(
            go.Scatter(
                x=[n.x for n in nodes], y=[n.y for n in nodes], mode="markers+text", text=text, textposition="top center",
                marker={"size": 16 if kind != "member" else 11, "color": colour}, customdata=[[kind, n.index] for n in nodes],
                name={"latent": "this latent", "meta": "meta-latent", "member": "related latent"}[kind], hovertext=text, hoverinfo="text",
            )
        )  # fmt: skip
    return go.Figure(
        traces, layout={"height": 460, "xaxis": {"visible": False}, "yaxis": {"visible": False}, "margin": TIGHT}
    )


def activation_histogram(bins: Sequence[tuple[float, float, int]]) -> go.Figure:
    """A latent's activations over the index: bars of (low, high, tokens)."""
    lows, highs, counts = zip(*bins, strict=True)
    return go.Figure(
        go.Bar(
            x=[(lo + hi) / 2 for lo, hi in zip(lows, highs, strict=True)],
            y=counts,
            width=[hi - lo for lo, hi in zip(lows, highs, strict=True)],
        ),
        layout={
            "height": 260,
            "margin": TIGHT,
            "xaxis": {"title": {"text": "activation"}},
            "yaxis": {"title": {"text": "tokens"}},
        },
    )


def meta_activation_histogram(values: np.ndarray, threshold: float) -> go.Figure:
    """A meta-latent's activations over every decoder row, with its threshold dashed."""
    return binned_histogram(
        values.astype(float), 40, "meta-latent activation on a decoder row", "decoder rows",
        lines=((threshold, "dash"),), layout={"height": 260, "margin": TIGHT},
    )  # fmt: skip


def binned_histogram(
    values: np.ndarray,
    bins: int,
    x_title: str,
    y_title: str = "latents",
    lines: Sequence[tuple[float, str]] = (),
    layout: dict[str, object] | None = None,
) -> go.Figure:
    """A histogram binned here (numpy), so the page sends `bins` bars instead of every value (a figure of
    9,216 raw values was a fifth of the overview's rerun), with vertical `lines` (x, dash style) across it and
    `layout` added. Made in one call: each later Plotly update validates the figure again."""
    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(finite, bins=bins) if len(finite) else (np.zeros(0), np.zeros(1))
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    shapes = [
        {"type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", "line": {"dash": dash}}
        for x, dash in lines
    ]
    return go.Figure(
        go.Bar(x=centres, y=counts, width=widths, marker_line_width=0),
        layout={
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}},
            "bargap": 0,
            "shapes": shapes,
            **(layout or {}),
        },
    )


def density_histogram(log_density: pd.DataFrame) -> go.Figure:
    title = "Activation density across latents (log10 of the fraction of tokens where a latent fires)"
    return binned_histogram(
        log_density["log10_density"].to_numpy(dtype=float), 60, "log10_density", layout={"title": {"text": title}}
    )


def latent_map_figure(table: pd.DataFrame, column: str, marked: int | None) -> go.Figure:
    """WebGL scatter of a latent map coloured by `column` ("meta", "log10 density", "status" or "" for
    plain), with an arrow at latent `marked`; each point carries its latent as customdata.

    Built for 98,304 points: colours are numeric codes on a stepped colour scale and the hover is one text per
    point, so Plotly serialises numeric arrays and one string list (a colour string and a label pair per point
    took 1.9 s to validate and write at that size; this takes about 0.3 s)."""
    hover = "#%{customdata} %{hovertext}"
    text = table["label"].map(plain)
    marker: dict[str, object] = {"size": 3, "color": "#3182bd", "opacity": 0.7}
    if column == "meta":
        codes = np.where(table["meta"] == NO_META, len(PALETTE), table["meta"] % len(PALETTE))
        marker.update(_coded(codes, [*PALETTE, "#cccccc"]))
        text = text + "<br>" + table["meta label"].map(plain)
    elif column == "log10 density":
        marker.update(color=table[column], colorscale="Viridis", colorbar={"title": "log10 density"}, showscale=True)
        hover += "<br>log10 density %{marker.color:.2f}"
    elif column == "status":
        names = list(STATUS_COLOURS)
        marker.update(_coded(table["status"].map(names.index).to_numpy(), list(STATUS_COLOURS.values())))
        text = text + "<br>" + table["status"]
    fig = go.Figure(
        go.Scattergl(
            x=table["x"].to_numpy(), y=table["y"].to_numpy(), mode="markers", marker=marker,
            customdata=table["latent"].to_numpy(), hovertext=text.to_numpy(), hovertemplate=hover + "<extra></extra>",
            name="latents",
        )
    )  # fmt: skip
    if marked is not None and 0 <= marked < len(table):
        row = table.iloc[marked]
        # An annotation, not a trace: it takes no clicks, so every click selects a latent.
        fig.add_annotation(x=row["x"], y=row["y"], text=f"#{marked}", showarrow=True, arrowhead=2, ax=30, ay=-30)
    fig.update_layout(
        height=720, showlegend=False, margin=TIGHT, dragmode="pan",
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
    )  # fmt: skip
    return fig


def _coded(codes: np.ndarray, colours: list[str]) -> dict[str, object]:
    """Marker settings drawing code i (0 … len(colours) - 1) in colours[i]: a colour scale of flat steps."""
    n = len(colours)
    steps = [[edge / n, colour] for i, colour in enumerate(colours) for edge in (i, i + 1)]
    return {"color": codes, "colorscale": steps, "cmin": -0.5, "cmax": n - 0.5, "showscale": False}


def benchmark_figure(summary: pd.DataFrame, metrics: Sequence[str]) -> go.Figure:
    """PS-Eval metrics against SAE size (log)."""
    fig = go.Figure([go.Scatter(x=summary["latents"], y=summary[m], mode="lines+markers", name=m) for m in metrics])
    fig.update_layout(height=360, xaxis_title="SAE latents (log)", yaxis_title="score", margin={"t": 20})
    fig.update_xaxes(type="log")
    return fig


def size_trend_figure(
    frame: pd.DataFrame, series: dict[str, str], y_title: str, references: Sequence[tuple[float, str]] = ()
) -> go.Figure:
    """Each column of `series` (column: legend name) against SAE size (log), with published figures dotted."""
    fig = go.Figure()
    for column, name in series.items():
        shown = frame.dropna(subset=[column])
        dash = "dot" if "baseline" in column else None
        fig.add_trace(
            go.Scatter(x=shown["latents"], y=shown[column], mode="lines+markers", name=name, line={"dash": dash})
        )
    for value, text in references:
        fig.add_hline(y=value, line={"dash": "dash", "color": "gray"}, annotation_text=text)
    fig.update_layout(height=340, xaxis_title="SAE latents (log)", yaxis_title=y_title, margin={"t": 20})
    fig.update_xaxes(type="log")
    return fig


def families_figure(table: pd.DataFrame, measures: Sequence[tuple[str, str]]) -> go.Figure:
    """One panel per measure (column, title) against SAE size (log), one line per family (`side_by_side`'s table)."""
    columns = 3
    rows = -(-len(measures) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[plain(title) for _, title in measures])
    for number, (column, _) in enumerate(measures):
        for colour, (family, frame) in zip(PALETTE, table.groupby("family", sort=False), strict=False):
            shown = frame.dropna(subset=[column])
            fig.add_trace(
                go.Scatter(
                    x=shown["latents"], y=shown[column], mode="lines+markers", name=plain(str(family)),
                    line={"color": colour}, legendgroup=str(family), showlegend=number == 0,
                ),
                row=number // columns + 1, col=number % columns + 1,
            )  # fmt: skip
    low, high = np.log10(table["latents"].min()), np.log10(table["latents"].max())
    fig.update_xaxes(type="log", range=[low - 0.1, high + 0.1])  # every panel on the same sizes
    fig.update_layout(height=240 * rows, margin={"t": 40, "b": 20, "l": 10, "r": 10})
    return fig


def _error_bars(frame: pd.DataFrame, y: str) -> dict[str, object] | None:
    """± one standard error, where the curves store one (the loss, measured over held-out contexts)."""
    column = f"{y}_se"
    return {"type": "data", "array": frame[column], "visible": True} if column in frame else None


def stitching_figure(curves: pd.DataFrame, x: str, y: str, x_title: str, y_title: str, log_x: bool) -> go.Figure:
    """Each pair's stitching curve of `y` against `x`, and the plain SAEs as labelled diamonds."""
    saes, lines = curves[curves["kind"] == "sae"], curves[curves["kind"] == "curve"]
    fig = go.Figure()
    for pair, group in lines.groupby("pair", sort=False):
        measured = group.dropna(subset=[y])
        fig.add_trace(
            go.Scatter(
                x=measured[x], y=measured[y], mode="lines+markers", name=str(pair), marker={"size": 4},
                error_y=_error_bars(measured, y),
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=saes[x], y=saes[y], mode="markers+text", name="plain SAEs", text=saes["pair"],
            textposition="top center", marker={"size": 11, "symbol": "diamond", "color": "black"},
            error_y=_error_bars(saes, y),
        )
    )  # fmt: skip
    fig.update_layout(height=420, xaxis_title=x_title, yaxis_title=y_title, margin={"t": 20})
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def atomicity_histogram(cosines: np.ndarray, composition: float, atom: float) -> go.Figure:
    """Latents by the cosine of their decoder row with its meta-SAE reconstruction, the two cut-offs dashed."""
    return binned_histogram(
        cosines.astype(float), 50, "cosine of decoder row with its meta-SAE reconstruction",
        lines=((atom, "dot"), (composition, "dash")), layout={"height": 280, "margin": TIGHT},
    )  # fmt: skip


def edge_width(cosine: float) -> float:
    """A lineage edge's line width: thicker the closer the two decoder rows (1 px at cosine 0.5 and below, 4 at 1),
    in half-pixel steps."""
    return round(2 * (1 + 6 * max(0.0, cosine - 0.5))) / 2


def lineage_figure(tree: Lineage, labels: dict[str, Sequence[str] | None]) -> go.Figure:
    """A latent's lineage, one row per SAE size (smallest on top); each node carries [SAE id, latent] as
    customdata, edges are drawn thicker the higher their decoder cosine."""
    xy = layout(tree)
    # One trace per line width (half-pixel steps), not per edge: Plotly draws a trace's lines at one width.
    by_width: dict[float, list[tuple[int, int]]] = {}
    for parent, child, cos in tree.edges:
        by_width.setdefault(edge_width(cos), []).append((parent, child))
    traces = [
        go.Scatter(
            x=[xy[n][0] if n is not None else None for p, c in pairs for n in (p, c, None)],
            y=[xy[n][1] if n is not None else None for p, c in pairs for n in (p, c, None)],
            mode="lines", hoverinfo="skip", showlegend=False, line={"color": "#999", "width": width},
        )
        for width, pairs in sorted(by_width.items())
    ]  # fmt: skip
    texts, hovers, colours = [], [], []
    for i, node in enumerate(tree.nodes):
        sae_id = tree.sae_ids[node.level]
        names = labels.get(sae_id)
        label = plain(names[node.latent]) if names else ""
        shape = tree.shape(i)
        texts.append(f"#{node.latent} {label[:18]}")
        cosines = [f"{c:.2f}" for p, k, c in tree.edges if i in (p, k)]
        hovers.append(f"SAE-{sae_id} #{node.latent} {label}<br>{shape or 'no split'}; cosines {', '.join(cosines)}")
        colours.append(LINEAGE_COLOURS["current" if i == tree.current else "split" if shape else "latent"])
    traces.append(
        go.Scatter(
            x=[x for x, _ in xy], y=[y for _, y in xy], mode="markers+text", text=texts, textposition="bottom center",
            hovertext=hovers, hoverinfo="text", showlegend=False,
            customdata=[[tree.sae_ids[n.level], n.latent] for n in tree.nodes],
            marker={"size": 16, "color": colours, "line": {"width": 1, "color": "#333"}},
        )
    )  # fmt: skip
    levels = sorted({n.level for n in tree.nodes})
    width = max(sum(n.level == lv for n in tree.nodes) for lv in levels)
    return go.Figure(
        traces,
        layout={
            "height": 120 + 90 * len(levels),
            "margin": {**TIGHT, "l": 80},
            "dragmode": False,
            "yaxis": {
                "tickvals": [-lv for lv in levels],
                "ticktext": [f"SAE-{tree.sae_ids[lv]}" for lv in levels],
                "zeroline": False,
            },
            "xaxis": {"visible": False, "range": [-width / 2 - 0.5, width / 2 + 0.5]},
        },
    )
