"""The latent card's stitching section: novel or reconstruction against the next smaller SAE, and
what the latent becomes in the next larger one."""

import streamlit as st

from backend.web.urlstate import View
from pages.access.indexes import latent_labels
from pages.access.state import family_neighbours, stitch_threshold
from pages.access.stitching import classification, closest_members
from pages.sections.widgets import latent_link, linked_list


def _group(view: View, latent: int, members: list[int], sae_id: str) -> None:
    """The group's members in SAE `sae_id`, closest to this latent first, with their decoder cosine to it."""
    linked_list(view, closest_members(view.release, view.sae, latent, sae_id, members), "cosine", sae=sae_id)


def _closest_link(view: View, latent: int, sae_id: str) -> None:
    labels = latent_labels(view.release, sae_id)
    latent_link(view, latent, labels[latent] if labels else "", sae=sae_id)


def stitching_badges(view: View, latent: int) -> None:
    smaller, larger = family_neighbours(view)
    if smaller is None and larger is None:
        return
    threshold = stitch_threshold(view)
    st.subheader("Across sizes (stitching)")
    st.caption(
        f"Decoder cosine threshold {threshold:.2f}; change it in the lineage below or on the Stitching page. Each "
        "group's members are listed closest to this latent first, with their cosine to it."
    )
    left, right = st.columns(2)
    with left:
        if smaller is not None:
            found = classification(view.release, smaller, view.sae, threshold)
            if found is None:
                st.caption(f"Matching with SAE-{smaller} not computed yet (Stitching page).")
            elif latent in found.by_large:
                component = found.by_large[latent]
                st.badge(f"reconstruction ({component.kind})", color="blue")
                st.caption(f"Reconstructs, in SAE-{smaller}:")
                _group(view, latent, list(component.small), smaller)
                if len(component.large) > 1:
                    st.caption(f"together with, in SAE-{view.sae}:")
                    _group(view, latent, [i for i in component.large if i != latent], view.sae)
            else:
                st.badge("novel", color="orange")
                cosine = float(found.large_cos[latent])
                st.caption(
                    f"No latent of SAE-{smaller} has cosine ≥ {threshold:.2f} with it; the closest, at {cosine:.2f}:"
                )
                _closest_link(view, int(found.large_best[latent]), smaller)
    with right:
        if larger is not None:
            found = classification(view.release, view.sae, larger, threshold)
            if found is None:
                st.caption(f"Matching with SAE-{larger} not computed yet (Stitching page).")
            elif latent in found.by_small:
                component = found.by_small[latent]
                st.badge(f"in SAE-{larger}: {component.kind}", color="green")
                _group(view, latent, list(component.large), larger)
            else:
                st.badge(f"dropped in SAE-{larger}", color="gray")
                cosine = float(found.small_cos[latent])
                st.caption(
                    f"No latent of SAE-{larger} has cosine ≥ {threshold:.2f} with it; the closest, at {cosine:.2f}:"
                )
                _closest_link(view, int(found.small_best[latent]), larger)
