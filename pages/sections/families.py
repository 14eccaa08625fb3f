"""Families trained from the same data, side by side where the paper's question is asked (the Canonical units?
page): every compared lens and each SAE's quality against size, one line per family, with one sentence per figure on
which family does better (backend/lenses/compare.py), and each family's meta-SAE."""

import streamlit as st

from backend.lenses.compare import MEASURES, said
from backend.sources.catalog import families_of, on_request
from backend.sources.release import Release
from pages.access.lenses import families_compared, families_meta
from pages.access.state import page
from pages.sections.build_status import build_complete
from pages.sections.figures import families_figure
from pages.sections.widgets import table_downloads


def families_section(release: Release) -> None:
    """The comparison, for a release that has another family trained from its data (nothing otherwise)."""
    families, unasked = families_of(release), on_request(release)
    if families:
        names = [family.family_name for family in families]
        st.subheader(f"Families compared: {' · '.join(names)}")
        st.caption(
            f"{_listed(names)} are trained from the same activations with the same budget; each line is one "
            "family, each point an SAE of that size. Found by another family: the share of a family's latents whose "
            "decoder direction has a partner at cosine ≥ 0.7 in another family's SAE of the same size (any of them; "
            "the cards mark them); found by every other family, with three families or more: a partner in each."
        )
    for family in unasked:
        st.info(_not_asked(family, families or [release]))
    if not families:
        return
    building = [family.family_name for family in families if not build_complete(family)]
    if building:
        their = (
            "Its points appear as its build makes" if len(building) == 1 else "Their points appear as their builds make"
        )
        st.info(f"Still being built: {', '.join(building)}. {their} them.")
    table = families_compared(release.id)
    shown = [(m.column, m.label) for m in MEASURES if m.column in table and table[m.column].notna().any()]
    if table.empty or not shown:
        return
    st.plotly_chart(families_figure(table, shown), width="stretch")
    nested = next((f.family_name for f in families if f.nested), None)
    metas = families_meta(release.id)
    for heading, sentences in said(families, table, metas):
        st.markdown(f"**{heading}**\n" + "\n".join(f"- {sentence}" for sentence in sentences))
    if nested is not None:
        st.caption(
            f"The {nested} family is one dictionary read at several widths: its novel fraction is the share of "
            "latents each wider prefix adds, by construction, and its seeds are the prefixes of one second SAE."
        )
    st.dataframe(table, hide_index=True)
    table_downloads(lambda: table, f"{release.id}-families", "families")
    st.caption(
        "Each family's meta-SAE over its largest SAE: variance explained (lower: its latents are less compositions "
        "of shared meta-latents), its meta-latents' member coherence and WordNet category agreement, each over its "
        "chance level (as the overview reads them)."
    )
    st.dataframe(metas, hide_index=True)


def _not_asked(family: Release, families: list[Release]) -> str:
    """Where a family built on request (`on_request`) is not built yet: what it is, and the command that builds it."""
    controlled = [other.family_name for other in families if other.control == family.id]
    role = f", the control of the {_listed(controlled)} family (they differ in one way only)" if controlled else ""
    return (
        f"Not built here yet: the {family.family_name} family{role}. It is built only when asked for: "
        f"`python -m backend build --release {family.id}`. The app stays usable meanwhile, and its figures appear "
        "here as its build makes them."
    )


def families_link(release: Release, sae_id: str) -> None:
    """Where a family with another trained from the same data is compared with it (the overview's pointer)."""
    others = [family.family_name for family in families_of(release) if family.id != release.id]
    if others:
        st.page_link(
            page("canonical"), icon="⚖️", query_params={"release": release.id, "sae": sae_id},
            label=f"Compare this {release.family_name} family with the {_listed(others)} "
            f"{'families' if len(others) > 1 else 'family'}, lens by lens",
        )  # fmt: skip


def _listed(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1]))) if names else ""
