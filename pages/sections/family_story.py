"""The family's figures at the top of the overview: per size its quality, the share of novel latents against
the next smaller size and the model's next-token loss with the SAE spliced in; the meta-SAE's variance explained."""

import pandas as pd
import streamlit as st

from backend.stitching.curves import CurveConfig
from backend.stitching.matching import DEFAULT_THRESHOLD
from backend.web.urlstate import View
from pages.access.saes import member_metrics
from pages.access.state import catalog
from pages.access.stitching import classification, stitching_curves
from pages.sections.build_status import still_building


def _rows(view: View) -> pd.DataFrame:
    release = catalog()[view.release]
    ready = set(release.sae_ids) - set(still_building(release))
    novel = {}
    for small, large in release.neighbour_pairs:
        if not {small, large} <= ready:
            continue  # a pair whose larger SAE is still being built has no matching yet
        found = classification(view.release, small, large, DEFAULT_THRESHOLD)
        if found is not None:
            novel[large] = found.summary()["novel fraction"]
    curves = stitching_curves(view.release, CurveConfig())
    loss = {}
    if curves is not None:
        for _, row in curves[curves["kind"] == "sae"].iterrows():
            loss[str(row["pair"]).removeprefix("SAE-")] = f"{row['dloss']:.3f} ± {row['dloss_se']:.3f}"
    rows = []
    for sae_id in release.sae_ids:
        metrics = member_metrics(view.release, sae_id) or {}
        rows.append(
            {
                "SAE": sae_id,
                "FVU": f"{metrics['fvu']:.3f}" if "fvu" in metrics else "building…",
                "L0": f"{metrics['l0']:.1f}" if "l0" in metrics else "",
                f"novel vs the next smaller (cosine < {DEFAULT_THRESHOLD})": f"{novel[sae_id]:.0%}"
                if sae_id in novel
                else "",
                "Δ next-token loss (nats)": loss.get(sae_id, ""),
            }
        )
    return pd.DataFrame(rows)


def family_figures(view: View) -> None:
    """The family table and the meta-SAE's variance explained (a built or partly built family of 2+ sizes)."""
    release = catalog()[view.release]
    if len(release.sae_ids) < 2:
        return
    st.subheader("The family at a glance")
    st.dataframe(_rows(view), hide_index=True, width="stretch")
    metas = [(meta.id, member_metrics(view.release, meta.id)) for meta in release.meta_saes]
    shown = [f"{meta_id}: {m['variance_explained']:.1%}" for meta_id, m in metas if m and "variance_explained" in m]
    st.caption(
        "Novel latents have no partner in the next smaller SAE above the cosine threshold (the Stitching page "
        "has the curves); Δ loss is the next-token loss with the SAE's reconstruction spliced in, minus the "
        "model's, mean over held-out contexts ± its standard error."
        + (f" Meta-SAE decoder variance explained: {'; '.join(shown)}." if shown else "")
    )
