"""The sentence a family of nested prefixes (one Matryoshka SAE, `Release.nested`) gets where its sizes are compared:
its novel fractions are the share of latents each wider prefix adds, by construction."""

import streamlit as st

from backend.sources.release import Release

NESTED_FAMILY = (
    "These SAEs are the nested prefixes of one Matryoshka SAE: each wider one holds the narrower one's latents "
    "unchanged, so every latent of a narrower width is its own partner (cosine 1) and the novel latents are exactly "
    "those a wider prefix adds. Comparisons between sizes here measure what those added latents buy, not how two "
    "SAEs trained apart relate."
)


def nested_note(release: Release) -> None:
    """Say so when the release's family is one nested dictionary."""
    if release.nested:
        st.info(NESTED_FAMILY)
