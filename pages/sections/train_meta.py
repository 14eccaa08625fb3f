"""The "train a meta-SAE" form of the overview page (the work runs in backend/training/meta.py)."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.training.meta import MetaTrainConfig
from backend.web.budget import meta_cost
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.actions import train_meta
from pages.access.saes import sae
from pages.access.state import catalog
from pages.sections.widgets import progress_bar


def meta_form(view: View, d_sae: int) -> None:
    release = catalog()[view.release]
    existing = [m.id for m in release.meta_for(view.sae)]
    with st.expander("Train a meta-SAE on this SAE's decoder rows", expanded=False):
        if existing:
            st.caption(f"Already available: {', '.join(existing)}. Training another registers it beside them.")
        cols = st.columns(3)
        d_meta = cols[0].number_input(
            "Meta-latents", 8, max(8, d_sae // 2), max(8, d_sae // 20), help="The paper used about d_sae / 21."
        )
        k = cols[1].number_input("k (active per latent)", 1, 32, 4)
        epochs = cols[2].number_input("Epochs over the decoder rows", 1, 2000, 200)
        cost = meta_cost(float(epochs), d_sae, int(d_meta), sae(view.release, view.sae).cfg.d_in)
        st.caption(cost.sentence() if cost.allowed else f"{cost.sentence()} Fewer meta-latents or epochs fit.")
        if not st.button("Train and register", disabled=not cost.allowed):
            return
        cfg = MetaTrainConfig(d_meta=int(d_meta), k=int(k), epochs=float(epochs))
        try:
            meta_id = train_meta(view.release, view.sae, cfg, progress_bar("Training the meta-SAE…"))
        except AtlasError as err:
            st.error(f"Training failed: {md(err)}")
            return
        st.success(f"Registered {meta_id}. Open any latent card to see its decomposition.")
