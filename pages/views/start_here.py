"""The overview's "Start here" list: showcase decompositions chosen by the rule in backend/showcase.py."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.data.corpus import wordnet_names
from backend.metasae.decompose import meta_label
from backend.metasae.showcase import NAME_SHARE, TOP_EXAMPLES, Showcase, name_latents, showcase
from backend.web.render import md
from backend.web.urlstate import View
from pages.views.data import cards, decompositions, index_stamp, latent_labels, meta_sae, meta_stamp, sae


@st.cache_data(max_entries=4, show_spinner="Choosing showcase decompositions…")
def _showcases(release_id: str, sae_id: str, meta_id: str, stamps: tuple) -> list[Showcase]:
    index = cards(release_id, sae_id).index
    top = index.top_example_tokens(TOP_EXAMPLES)
    names = name_latents(top["token"].to_numpy(), top["latent"].to_numpy(), index.vocab, wordnet_names(), index.d_sae)
    return showcase(decompositions(release_id, meta_id), meta_sae(release_id, meta_id), sae(release_id, sae_id), names)


def start_here(view: View, meta_id: str) -> None:
    """Five decompositions to read first, each a link to its latent card."""
    stamps = (index_stamp(view.release, view.sae), meta_stamp(view.release, meta_id))
    try:
        chosen = _showcases(view.release, view.sae, meta_id, stamps)
    except AtlasError as err:
        st.info(f"No showcase yet: {md(err)}")
        return
    labels = latent_labels(view.release, view.sae)
    if not chosen or labels is None:
        return
    st.subheader("Start here")
    st.caption(
        f"Latents the meta-SAE splits into two or more parts, best reconstructed first; name latents (top "
        f"{TOP_EXAMPLES} examples at least {NAME_SHARE:.0%} names: words WordNet knows only as names, i.e. people and "
        "places), the kind the paper's 'Einstein' example is, come first and are marked 👤."
    )
    decomps = decompositions(view.release, meta_id)
    for item in chosen:
        parts = " + ".join(f"{meta_label(decomps.members(m), labels)} ({value:.2f})" for m, value in item.parts[:4])
        st.page_link(
            "pages/views/latent.py",
            label=f"{'👤 ' if item.name else ''}#{item.latent} {labels[item.latent]} → {parts} · "
            f"cosine {item.cosine:.2f}",
            query_params=view.params(latent=item.latent),
        )
