"""Search latents by label or token, or by typing text and running the model."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.explore.search import per_token_top, rank_latents
from backend.web.render import highlighted_tokens, md
from pages.access.indexes import label_search, latent_labels, text_activations
from pages.access.state import catalog, current_view
from pages.sections.widgets import index_ready, latent_link, quick_list

view = current_view()
release = catalog()[view.release]
if not index_ready(view):
    st.stop()
labels = latent_labels(view.release, view.sae) or ()

st.header("Search latents")
TABS = ["By label or token", "By typing text"]
# A link with typed text opens on its results.
by_label, by_text = st.tabs(TABS, default=TABS[1] if view.text else TABS[0])

with by_label:
    query = st.text_input("Label or token contains", value=view.query, placeholder="e.g. Einstein, river, French")
    if query != view.query:
        st.query_params.from_dict(view.params(q=query))
    if query:
        hits = label_search(view.release, view.sae, query)
        st.caption(f"{len(hits)} latents match '{md(query)}'.")
        quick_list(view, hits["latent"].astype(int).tolist(), f"SAE Atlas search: {query}")
        for row in hits.itertuples():
            latent_link(view, int(row.latent), str(row.label), value=f"density {row.density:.4%} · max {row.max:.2f}")

with by_text:
    text = st.text_area(
        "Text", value=view.text, placeholder="Albert Einstein developed the theory of relativity.", max_chars=2000
    )
    if text != view.text:
        st.query_params.from_dict(view.params(text=text, token=None))
    if text.strip():
        try:
            result = text_activations(view.release, view.sae, text)
        except AtlasError as err:
            st.error(f"The model could not run: {md(err)}")
            st.stop()
        options = ["whole text", *[f"{i}: {tok!r}" for i, tok in enumerate(result.tokens)]]
        current = 0 if view.token is None or view.token >= len(result.tokens) else view.token + 1
        choice = st.selectbox("Rank latents at", options, index=current)
        position = None if choice == "whole text" else options.index(choice) - 1
        if position != view.token:
            st.query_params.from_dict(view.params(text=text, token=position))
        ranked = rank_latents(result.acts, position)
        if not ranked:
            st.info("No latent fires here.")
        for latent, value in ranked:
            latent_link(view, latent, labels[latent], value=f"{value:.3f}")
            st.html(highlighted_tokens(result.tokens, result.acts[:, latent].tolist(), max(value, 1e-6)))
        st.subheader("Top latents of each token")
        rows = [
            {"token": tok, **{f"#{r + 1}": f"{lat} {labels[lat]} ({val:.2f})" for r, (lat, val) in enumerate(top)}}
            for tok, top in zip(result.tokens, per_token_top(result.acts), strict=True)
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
