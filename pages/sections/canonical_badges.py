"""Canonicality views shared by pages: the latent card's profile (one badge per lens with its figure, the evidence
beside it) and the novel-against-shared figure the Stitching and Canonical units? pages both show."""

import streamlit as st

from backend.lenses.lens import known
from backend.lenses.seeds import SHARED_COSINE as SHARED
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.lenses import (
    badges,
    canonicality,
    facets_of,
    family_canonicality,
    lenses_missing,
    nearest_in_families,
)
from pages.access.state import catalog, page
from pages.sections.figures import size_trend_figure

PAPER_NOVEL = 0.35
"""Novel fraction between neighbouring GPT-2 sizes at cosine 0.7 (the meta-SAE post)."""
PAPER_SHARED = 0.30
"""Shared across seeds at 131k latents on Llama 3 8B (Paulo & Belrose 2025)."""


def canonicality_section(view: View, latent: int, smaller: str | None) -> None:
    st.subheader("Is it a canonical unit?")
    st.caption(
        "Each lens of the question, with its figure: seeds = decoder / encoder cosine with its partner in the second "
        f"seed (shared at ≥ {SHARED}); atomicity = cosine of the meta-SAE's reconstruction; splits and facets from "
        "held-out firing and the index's examples. The Canonical units? page has the whole family."
    )
    row = canonicality(view.release, view.sae).iloc[latent]
    # One Markdown element for every badge (the `:color-badge[...]` that `st.badge` writes): elements cost reruns.
    st.markdown(
        " ".join(
            f":{colour}-badge[{lens}: {md(text)}]" for lens, text, colour in badges(view.release, view.sae, latent)
        )
    )
    if known(row["seed_partner"]):
        st.caption(f"Partner in the second seed: latent {int(row['seed_partner'])}.")
    for other_release, other_sae, partner, cosine in nearest_in_families(view.release, view.sae, latent):
        other = View(release=other_release, sae=other_sae, latent=partner)
        st.page_link(
            page("latent"), query_params=other.params(), icon="🪆",
            label=f"Its nearest latent in the {catalog()[other.release].family_name} family: SAE-{other.sae} "
            f"#{other.latent} · cosine {cosine:.2f}",
        )  # fmt: skip
    if known(row["parent_given_child"]):
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
