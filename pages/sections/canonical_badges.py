"""Canonicality views shared by pages: the latent card's profile (one badge per lens with its figure, the evidence
beside it) and the novel-against-shared figure the Stitching and Canonical units? pages both show."""

import math
from typing import Literal

import pandas as pd
import streamlit as st

from backend.lenses.seeds import SHARED_COSINE as SHARED
from backend.metasae.atomicity import COMPOSITION_COSINE as COMPOSITION
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.lens_data import canonicality, facets_of, family_canonicality, lenses_missing
from pages.sections.figures import size_trend_figure

PAPER_NOVEL = 0.35
"""Novel fraction between neighbouring GPT-2 sizes at cosine 0.7 (the meta-SAE post)."""
PAPER_SHARED = 0.30
"""Shared across seeds at 131k latents on Llama 3 8B (Paulo & Belrose 2025)."""
Colour = Literal["red", "orange", "blue", "green", "violet", "gray"]


def _known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def profile_badges(row: pd.Series, smaller: str | None, larger: str | None) -> list[tuple[str, str, Colour]]:
    """(lens, badge text, colour) for every lens the latent has."""
    badges: list[tuple[str, str, Colour]] = []
    if _known(row["novel"]):
        badges.append(("stitching", f"novel vs SAE-{smaller}" if row["novel"] else f"reconstructs SAE-{smaller}",
                       "orange" if row["novel"] else "blue"))  # fmt: skip
    if _known(row["kept"]):
        badges.append(("stitching", f"kept in SAE-{larger}" if row["kept"] else f"dropped in SAE-{larger}",
                       "green" if row["kept"] else "gray"))  # fmt: skip
    if _known(row["seed_shared"]):
        figure = f"{row['seed_cosine']:.2f} / {row['seed_encoder_cosine']:.2f}"
        text = f"shared across seeds · {figure}" if row["seed_shared"] else f"seed-specific · {figure}"
        badges.append(("seeds", text, "green" if row["seed_shared"] else "orange"))
    if _known(row["meta_cosine"]):
        parts, cosine = int(row["meta_parts"]), float(row["meta_cosine"])
        composite = cosine >= COMPOSITION and parts >= 2
        text = f"composition of {parts} parts · {cosine:.2f}" if composite else f"atom-like · {cosine:.2f}"
        badges.append(("atomicity", text, "violet" if composite else "gray"))
    if row["absorption"]:
        badges.append(("absorption", str(row["absorption"]), "red" if "absorbs" in row["absorption"] else "blue"))
    if row["split"]:
        badges.append(("splits", f"split into SAE-{larger}: {row['split']} · covers {row['split_coverage']:.0%}",
                       "green" if row["split"] == "partition" else "orange"))  # fmt: skip
    if _known(row["facets"]):
        count = int(row["facets"])
        text = "1 facet" if count == 1 else f"{count} facets · top {row['top_facet_share']:.0%}"
        badges.append(("facets", text, "green" if count == 1 else "orange"))
    return badges


def canonicality_section(view: View, latent: int, smaller: str | None, larger: str | None) -> None:
    st.subheader("Is it a canonical unit?")
    st.caption(
        "Each lens of the question, with its figure: seeds = decoder / encoder cosine with its partner in the second "
        f"seed (shared at ≥ {SHARED}); atomicity = cosine of the meta-SAE's reconstruction; splits and facets from "
        "held-out firing and the index's examples. The Canonical units? page has the whole family."
    )
    row = canonicality(view.release, view.sae).iloc[latent]
    # One Markdown element for every badge (the `:color-badge[...]` that `st.badge` writes): elements cost reruns.
    st.markdown(
        " ".join(f":{colour}-badge[{lens}: {md(text)}]" for lens, text, colour in profile_badges(row, smaller, larger))
    )
    if _known(row["seed_partner"]):
        st.caption(f"Partner in the second seed: latent {int(row['seed_partner'])}.")
    if _known(row["parent_given_child"]):
        st.caption(
            f"P(parent in SAE-{smaller} fires | this fires) = {row['parent_given_child']:.2f} on held-out tokens."
        )
    facets = facets_of(view.release, view.sae)
    mine = facets[facets["latent"] == latent] if facets is not None else None
    if mine is not None and len(mine) > 1:
        with st.expander(f"Facets: {len(mine)} kinds of context"):
            facet_rows = mine[["share", "label", "examples"]].itertuples(index=False)
            rows = [f"| {share:.0%} | {md(label, 80)} | {n} |" for share, label, n in facet_rows]
            st.markdown("\n".join(["| share of firing | label | examples |", "| ---: | --- | ---: |", *rows]))
    for reason in lenses_missing(view.release, view.sae).values():
        st.caption(f"Not shown: {md(reason)}")
    if row["absorption"].startswith("absorbs"):
        st.caption(
            "An absorbing latent fires where a letter's main latent stays silent and carries the letter direction."
        )


def complete_and_unique(release_id: str) -> None:
    """Per size: the novel fraction against the next smaller SAE and the fraction shared across seeds."""
    family = family_canonicality(release_id)
    if family.empty:
        st.info("No SAE of this release is ready yet.")
        return
    st.plotly_chart(
        size_trend_figure(
            family,
            {"novel_fraction": "novel vs the next smaller SAE", "shared_across_seeds": "shared across seeds"},
            "fraction of live latents",
            [(PAPER_NOVEL, "paper: novel, GPT-2"), (PAPER_SHARED, "Paulo & Belrose: shared, 131k latents")],
        ),
        width="stretch",
    )
    st.caption(
        "Novel: no partner with decoder cosine ≥ 0.7 in the next smaller SAE. Shared: the Hungarian partner in the "
        f"second seed has decoder and encoder cosine ≥ {SHARED}. The dashed lines are published figures on other "
        "models; sizes without a second seed have no shared point."
    )
