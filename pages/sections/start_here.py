"""The overview's "Start here" list and what the meta-latents mean (rules: backend/metasae/showcase.py and
backend/metasae/semantics.py)."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.explore.meaning import Meaning
from backend.metasae.semantics import CATCH_ALL_MULTIPLE, MEMBERS, TOP_EXAMPLES
from backend.metasae.showcase import MAX_SHARED, MIN_COSINE, NAME_SHARE
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.indexes import decomposition_meaning, latent_labels, meta_names
from pages.access.saes import decompositions
from pages.sections.widgets import latent_link, meta_link

_KIND_MARK = {"person": "👤 ", "place": "📍 ", "other": ""}


def read_meaning(view: View, meta_id: str) -> Meaning | None:
    """The meaning of this SAE's decompositions, or None (with a sentence) when it cannot be read yet."""
    try:
        return decomposition_meaning(view.release, view.sae, meta_id)
    except AtlasError as err:
        st.info(f"No showcase yet: {md(err)}")
        return None


def start_here(view: View, meta_id: str, found: Meaning) -> None:
    """Five decompositions to read first and the famous-people latent, each a link to its latent card."""
    labels = latent_labels(view.release, view.sae)
    if labels is None:
        return
    decomps = decompositions(view.release, meta_id)
    names = meta_names(view.release, meta_id) or {}

    def parts_text(parts: list[tuple[int, float]]) -> str:
        return " + ".join(f"{names.get(m, '')} ({value:.2f})" for m, value in parts[:4])

    st.subheader("Start here")
    if not found.showcase:
        st.caption("No latent of this SAE is split by the meta-SAE into two or more concept parts.")
    for item in found.showcase:
        latent_link(
            view, item.latent, f"{_KIND_MARK[item.kind]}{labels[item.latent]} → {parts_text(item.parts)} · "
            f"cosine {item.cosine:.2f}", limit=400,
        )  # fmt: skip
    if found.famous_people is not None:
        latent = found.famous_people
        people = int(found.words.distinct_people[latent])
        latent_link(
            view, latent, f"Famous people ({people} different people in its top examples): {labels[latent]} → "
            f"{parts_text(decomps.of_latent(latent))}", limit=400,
        )  # fmt: skip
    st.caption(
        f"The rule: latents the meta-SAE splits into two or more concept parts (meta-latents that are not spelling "
        f"groups); rebuilt at cosine ≥ {MIN_COSINE} first, then people (👤: at least {NAME_SHARE:.0%} of the top "
        f"{TOP_EXAMPLES} examples are people's names, as WordNet's noun.person knows them), places (📍), others; no two "
        f"led by the same part and no meta-latent in more than {MAX_SHARED} of them. The famous-people latent is the "
        "one whose top examples name the most different people."
    )


def meta_meaning(view: View, meta_id: str, found: Meaning) -> None:
    """WordNet's judgement of the meta-latents: category agreement, catch-alls, spelling groups, the most used."""
    verdict = found.judgement
    names = meta_names(view.release, meta_id) or {}
    cols = st.columns(3)
    cols[0].metric(
        "Members sharing a WordNet category",
        f"{verdict.agreement:.1%}",
        delta=f"{verdict.ratio:.2f}x chance",
        delta_color="off",
        help=(
            f"Of each meta-latent's {MEMBERS} strongest members that have a category (the WordNet lexicographer "
            "category, e.g. noun.person or noun.food, that most of its top examples' words are in), the share of "
            f"member pairs in the same category; two latents drawn at random share one {verdict.agreement_random:.1%} "
            f"of the time. Over {verdict.judged_meta_latents} meta-latents with two such members."
        ),
    )
    cols[1].metric(
        "Catch-all meta-latents",
        f"{int(verdict.catch_all.sum())}",
        help=f"Meta-latents in at least {CATCH_ALL_MULTIPLE:.0f}x as many decompositions as an even use would give "
        f"({verdict.uniform:.2%} of latents each).",
    )
    cols[2].metric(
        "Spelling groups",
        f"{int(verdict.spelling.sum())} of {len(verdict.spelling)}",
        help="Meta-latents at least half of whose strongest members fire mostly on pieces of words.",
    )
    st.caption("The five meta-latents in the most decompositions:")
    for j in verdict.most_used():
        spelling = ", a spelling group" if verdict.spelling[j] else ""
        meta_link(view, j, f"{names.get(j, '')} (in {verdict.shares[j]:.1%} of latents{spelling})")
