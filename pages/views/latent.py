"""Latent card: statistics, histogram, logit lens, top and interval examples, nearest latents."""

import dataclasses
import random

import streamlit as st

from backend.core.errors import AtlasError
from backend.explore.exports import card_json
from backend.index.cards import Card, Example, Interval
from backend.web.render import highlighted_tokens, md
from pages.access.indexes import card, cards, latent_steering
from pages.access.lenses import canonicality, nearest_in_families
from pages.access.state import catalog, current_view, family_neighbours, meta_id_for
from pages.sections.canonical_badges import canonicality_section
from pages.sections.decomposition import decomposition_section
from pages.sections.figures import activation_histogram
from pages.sections.lineage import lineage_section, slider_key
from pages.sections.steering import steering_section
from pages.sections.stitch_badge import stitching_badges
from pages.sections.widgets import index_ready, latent_link, quick_list

NEURONPEDIA = "https://www.neuronpedia.org/{model_set}/{latent}"

view = current_view()
release = catalog()[view.release]
if not index_ready(view):
    st.stop()

try:
    latent_card: Card = card(view.release, view.sae, view.latent)
except AtlasError as err:
    st.error(f"{md(err)} Pick a latent in range with the number box below.")
    latent_card = card(view.release, view.sae, 0)


def go_to(latent: int) -> None:
    st.query_params.from_dict(view.params(latent=latent))


nav = st.columns([2, 1, 1, 1, 3])
picked = nav[0].number_input("Latent", min_value=0, value=latent_card.latent, step=1, key=f"pick-{latent_card.latent}")
if picked != latent_card.latent:
    go_to(int(picked))
    st.rerun()
if nav[1].button("◀ Previous", disabled=latent_card.latent == 0):
    go_to(latent_card.latent - 1)
    st.rerun()
if nav[2].button("Next ▶"):
    go_to(latent_card.latent + 1)
    st.rerun()
if nav[3].button("Random"):
    go_to(random.randrange(cards(view.release, view.sae).index.d_sae))
    st.rerun()

st.header(f"Latent {latent_card.latent}: {md(latent_card.label)}")
entry = release.sae(view.sae)
# Columns only where there is more than the download to place: each column is an element every rerun sends.
links = st.columns([1, 1, 2]) if entry.neuronpedia_id else [st.container()]
links[0].download_button(
    "⬇ Card (JSON)",
    lambda: card_json(
        latent_card,
        view.release,
        view.sae,
        canonicality(view.release, view.sae).iloc[latent_card.latent].to_dict(),
        nearest_in_families(view.release, view.sae, latent_card.latent),
    ),
    file_name=f"{view.release}-{view.sae}-{latent_card.latent}.json",
    mime="application/json",
    on_click="ignore",
    help="Everything this card shows: statistics, histogram, examples with their token positions, logit lens, "
    "neighbours, its canonicality profile (every lens) and its nearest latent in each other family.",
)
if entry.neuronpedia_id:
    links[1].link_button(
        "Open in Neuronpedia", NEURONPEDIA.format(model_set=entry.neuronpedia_id, latent=latent_card.latent)
    )
    with links[2]:
        neighbours = [latent_card.latent, *(other for other, _, _ in latent_card.neighbours)]
        quick_list(view, neighbours, f"{view.sae} #{latent_card.latent} and its nearest latents")
if latent_card.label != latent_card.auto_label:
    st.caption(f"Label imported from Neuronpedia. From the data: {md(latent_card.auto_label)}")
else:
    st.caption("Label: the tokens this latent fires on most, weighted by activation over its top examples.")

stats = st.columns(4)
stats[0].metric("Density", f"{latent_card.density:.4%}", help="Fraction of indexed tokens where it fires.")
stats[1].metric("Max activation", f"{latent_card.max:.3f}")
stats[2].metric("Mean (when firing)", f"{latent_card.mean:.3f}")
stats[3].metric("Tokens firing", f"{latent_card.count:,}")
canonicality_section(view, latent_card.latent, family_neighbours(view)[0])
steering_section(
    view,
    f"latent {latent_card.latent}",
    "its largest activation",
    lambda: latent_steering(view.release, view.sae, latent_card.latent),
    can_clamp=True,
)


def show_examples(examples: list[Example], scale: float) -> None:
    """The examples as one HTML element: each element costs the server time on every rerun."""
    if examples:
        st.html("".join(highlighted_tokens(e.tokens, e.acts, scale, e.focus) for e in examples))


def show_intervals(intervals: list[Interval], scale: float) -> None:
    """Every interval as a collapsed `<details>` of one HTML element, not an expander each."""
    st.html(
        "".join(
            f'<details class="interval"><summary>{i.low:.3g} – {i.high:.3g}  ({i.count:,} tokens)</summary>'
            + "".join(highlighted_tokens(e.tokens, e.acts, scale, e.focus) for e in i.examples)
            + "</details>"
            for i in intervals
        )
    )


def lens_table(promoted: list[tuple[str, float]], suppressed: list[tuple[str, float]]) -> str:
    """The logit lens as one Markdown table (promoted and suppressed side by side); spaces in tokens shown as ␣."""

    def cells(pair: tuple[str, float] | None) -> str:
        return f"{md(pair[0].replace(' ', '␣'), 40)} | {pair[1]:.3f}" if pair else " | "

    rows = [
        f"| {cells(promoted[i] if i < len(promoted) else None)} | {cells(suppressed[i] if i < len(suppressed) else None)} |"
        for i in range(max(len(promoted), len(suppressed)))
    ]
    return "\n".join(["| promoted | logit | suppressed | logit |", "| --- | ---: | --- | ---: |", *rows])


left, right = st.columns([3, 2])
with left:
    st.subheader("Top activations")
    if not latent_card.top:
        st.info("This latent never fired on the indexed tokens.")
    show_examples(latent_card.top, latent_card.max)
    st.subheader("Interval examples")
    st.caption("Activation range in log-spaced intervals; examples are a uniform random sample of each interval.")
    if latent_card.intervals:
        show_intervals(latent_card.intervals, latent_card.max)

with right:
    st.subheader("Activation histogram")
    if latent_card.histogram:
        fig = activation_histogram(latent_card.histogram)
        st.plotly_chart(fig, width="stretch")
    st.subheader("Logit lens")
    if latent_card.lens_pos:
        st.markdown(lens_table(latent_card.lens_pos, latent_card.lens_neg))
    else:
        st.caption("No unembedding for this model.")
    st.subheader("Nearest latents (decoder cosine)")
    for other, cosine, label in latent_card.neighbours:
        latent_link(view, other, label, value=f"{cosine:.3f}")


# The sections whose sliders move often rerun on their own (st.fragment), not the whole card; each reads the
# view again, since its threshold lives in the URL the slider just changed.
@st.fragment
def decomposition_part(meta_id: str, latent: int) -> None:
    decomposition_section(current_view(), meta_id, latent)


@st.fragment
def stitching_part(latent: int) -> None:
    now = current_view()
    chosen = st.session_state.get(slider_key(latent))
    # The badges sit above the slider: they show the threshold just chosen, which the slider then writes to the URL.
    stitching_badges(now if chosen is None else dataclasses.replace(now, stitch_threshold=float(chosen)), latent)
    lineage_section(now, latent)


meta_id = meta_id_for(view)
if meta_id is not None:
    decomposition_part(meta_id, latent_card.latent)
stitching_part(latent_card.latent)
