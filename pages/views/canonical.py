"""Canonical units? Every lens of the paper's question against SAE size, and every latent with all lenses."""

import numpy as np
import pandas as pd
import streamlit as st

from backend.lenses.absorption import MIN_LETTER_TOKENS, MIN_PROBE_F1, measurable
from backend.lenses.profile import family_findings, filter_column, latent_filters
from backend.web.render import md
from pages.access.lenses import absorption_of, canonicality, family_canonicality, lenses_missing
from pages.access.state import catalog, current_view
from pages.sections.canonical_badges import complete_and_unique
from pages.sections.families import families_section
from pages.sections.figures import size_trend_figure
from pages.sections.nested import nested_note
from pages.sections.widgets import table_downloads

view = current_view()
release = catalog()[view.release]
st.header("Canonical units?")
nested_note(release)
st.caption(
    "The paper asks whether SAEs find a canonical set of units: a unique, complete list of atomic features. Each "
    "lens below measures one part of that against SAE size; the table joins them on every latent, so you can sort "
    "for, e.g., latents that are novel, seed-specific and absorbed."
)
family = family_canonicality(view.release)
if family.empty:
    st.info("No SAE of this release is ready yet; the lenses appear as the build makes them.")
    st.stop()

findings = family_findings(family)
if findings:
    st.info(" ".join(findings), icon="🔎")
left, right = st.columns(2)
with left:
    st.subheader("Complete? Unique?")
    complete_and_unique(view.release)
with right:
    st.subheader("Absorbed?")
    st.plotly_chart(
        size_trend_figure(
            family,
            {
                "absorption_fraction": "absorption fraction",
                "full_absorption": "full absorption",
                "baseline_absorption_fraction": "absorption fraction, random directions",
                "baseline_full_absorption": "full absorption, random directions",
                "main_f1": "main letter latents' F1",
            },
            "mean over measurable letters",
        ),
        width="stretch",
    )
    st.caption(
        "First-letter task on the corpus's word tokens. These figures compare the SAEs of this family with each "
        "other, not with published numbers: SAEBench notes the metric means little below about 1B parameters."
    )
left, right = st.columns(2)
with left:
    st.subheader("Split cleanly? One concept?")
    st.plotly_chart(
        size_trend_figure(
            family,
            {"partition_share": "splits that partition the parent", "facets_per_latent": "facets per latent"},
            "share / facets",
        ),
        width="stretch",
    )
    st.caption(
        "A split partitions its parent when its children fire on disjoint cases covering ≥ 80% of the parent's "
        "firing. Facets: a latent's examples clustered by context; one facet = monosemantic by this measure."
    )
with right:
    st.subheader("Per SAE")
    st.dataframe(family, hide_index=True)
families_section(release)

st.subheader(f"Every latent of SAE-{view.sae}")
missing = lenses_missing(view.release, view.sae)
for reason in missing.values():
    st.caption(f"Not here yet: {md(reason)}")
table = canonicality(view.release, view.sae)
columns = [c for c in table.columns if c != "latent"]
if view.sort and view.sort not in columns:
    st.warning(md(f"Ignored sort={view.sort!r}: this table has no such column; sorted by {columns[0]}."), icon="⚠️")
left, right = st.columns([3, 1], vertical_alignment="bottom")
sort_by = left.selectbox(
    "Sort by", columns, index=columns.index(view.sort) if view.sort in columns else 0, key="canonical-sort"
)
descending = right.toggle("Largest first", value=not view.ascending, key="canonical-descending")
live = table[~table["dead"]]
filters = latent_filters(live)
# A filter on a column that is here but does not split the latents yet (its lens is still being built) stays in the
# link and applies once it does; a name no column has is dropped.
waiting = [n for n in view.only if n not in filters and filter_column(n) in table.columns]
unknown = [n for n in view.only if n not in filters and n not in waiting]
if unknown:
    st.warning(md(f"Ignored the filters {', '.join(unknown)}: this table has no such column."), icon="⚠️")
if waiting:
    st.info(
        md(f"Not applied yet: {', '.join(waiting)}. No latent is told apart by it here (its lens is not computed "
           "yet, or every latent has the same value); the link keeps it, and it applies once it does."),
        icon="⏳",
    )  # fmt: skip
only = st.multiselect(
    "Only latents that are", list(filters), default=[n for n in view.only if n in filters], key="canonical-only",
    help="Each yes/no lens as itself or negated (latents a lens has not measured are in neither), each verdict as "
    "present or not; rows must pass every filter chosen.",
)  # fmt: skip
# The sort and the filters are part of the view: a shared link opens the table as it is here.
chosen = view.params(
    sort=sort_by if sort_by != columns[0] else "", asc=None if descending else "1", only=",".join([*only, *waiting])
)
if chosen != view.params():
    st.query_params.from_dict(chosen)
kept = live[np.logical_and.reduce([filters[name].to_numpy() for name in only])] if only else live
shown = kept.sort_values(sort_by, ascending=not descending, na_position="last")
# Relative links: they resolve beside this page, under any base path the server has.
cards = shown.head(500).assign(
    card=lambda f: [f"latent?release={view.release}&sae={view.sae}&latent={n}" for n in f["latent"]]
)
st.dataframe(cards, hide_index=True, column_config={"card": st.column_config.LinkColumn("card", display_text="open")})
st.caption(
    f"{len(shown):,} of {len(live):,} live latents{' pass the filters' if only else ''} (the first 500 shown); the "
    f"downloads hold all {len(table):,}."
)
table_downloads(lambda: table, f"{view.release}-{view.sae}-canonicality", "canonicality")

letters = absorption_of(view.release, view.sae)
if letters is not None:
    st.subheader(f"Absorption per letter, SAE-{view.sae}")
    accuracy = float(letters["probe_accuracy"].iloc[0])
    st.caption(
        f"Probe accuracy on held-out words: {accuracy:.0%}. Letters with under {MIN_LETTER_TOKENS} held-out words or "
        f"probe F1 under {MIN_PROBE_F1} are marked not measurable and left out of the family figures."
    )
    letters = letters.assign(measurable=letters.apply(measurable, axis=1))
    columns = ["letter", "measurable", "words", "probe_f1", "main_latents", "main_f1", "main_recall", "miss_rate",
               "full_absorption", "baseline_full_absorption", "absorption_fraction", "baseline_absorption_fraction",
               "absorbers", "missed_words"]  # fmt: skip
    st.dataframe(pd.DataFrame(letters[columns]), hide_index=True)
