"""The latent card's stitching section: novel or reconstruction against the next smaller SAE, and
what the latent becomes in the next larger one."""

import streamlit as st

from backend.web.urlstate import View
from pages.access.indexes import latent_labels
from pages.access.state import family_neighbours, stitch_threshold
from pages.access.stitching import classification
from pages.sections.widgets import latent_link


def _links(view: View, latents: tuple[int, ...] | list[int], sae_id: str) -> None:
    labels = latent_labels(view.release, sae_id)
    for latent in latents:
        latent_link(view, latent, labels[latent] if labels else "", sae=sae_id)


def stitching_badges(view: View, latent: int) -> None:
    smaller, larger = family_neighbours(view)
    if smaller is None and larger is None:
        return
    threshold = stitch_threshold(view)
    st.subheader("Across sizes (stitching)")
    st.caption(f"Decoder cosine threshold {threshold:.2f}; change it in the lineage below or on the Stitching page.")
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
                _links(view, component.small, smaller)
                if len(component.large) > 1:
                    st.caption(f"together with, in SAE-{view.sae}:")
                    _links(view, [i for i in component.large if i != latent], view.sae)
            else:
                st.badge("novel", color="orange")
                st.caption(
                    f"No latent of SAE-{smaller} has cosine ≥ {threshold:.2f} with it; the closest, at "
                    f"{float(found.large_cos[latent]):.2f}:"
                )
                _links(view, [int(found.large_best[latent])], smaller)
    with right:
        if larger is not None:
            found = classification(view.release, view.sae, larger, threshold)
            if found is None:
                st.caption(f"Matching with SAE-{larger} not computed yet (Stitching page).")
            elif latent in found.by_small:
                component = found.by_small[latent]
                st.badge(f"in SAE-{larger}: {component.kind}", color="green")
                _links(view, component.large, larger)
            else:
                st.badge(f"dropped in SAE-{larger}", color="gray")
                st.caption(
                    f"No latent of SAE-{larger} has cosine ≥ {threshold:.2f} with it; the closest, at "
                    f"{float(found.small_cos[latent]):.2f}:"
                )
                _links(view, [int(found.small_best[latent])], larger)
