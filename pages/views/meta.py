"""Meta-latent card: the SAE latents that contain it, its activation histogram, logit lens, label."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.metasae.decompose import meta_label
from backend.web.render import md
from pages.access.indexes import latent_table, meta_steering
from pages.access.saes import decompositions
from pages.access.state import catalog, current_view, meta_id_for
from pages.sections.build_status import still_building
from pages.sections.decomposition import logit_lens_table, threshold_control
from pages.sections.figures import meta_activation_histogram
from pages.sections.steering import steering_section
from pages.sections.widgets import linked_list

view = current_view()
release = catalog()[view.release]
meta_id = meta_id_for(view)
if meta_id is None:
    bases = [meta.over for meta in release.meta_saes]
    building = still_building(release)
    waiting = [sae_id for sae_id in bases if sae_id in building]
    if waiting:
        st.info(f"The meta-SAE sits on SAE-{waiting[0]}, which is still being built; its card opens once it is ready.")
    else:
        st.error(f"SAE {view.sae} of {release.title} has no meta-SAE. Pick the SAE a meta-SAE sits on in the sidebar.")
    st.stop()
meta: str = meta_id
try:
    table = decompositions(view.release, meta_id)
except AtlasError as err:
    st.error(f"The meta-SAE cannot be loaded: {md(err)}")
    st.stop()
if not 0 <= view.meta_latent < table.n_meta:
    st.error(f"Meta-latent {view.meta_latent} is out of range: this meta-SAE has 0 to {table.n_meta - 1}.")
    st.stop()

labels = latent_table(view.release, view.sae)["label"].tolist()
picked = st.number_input("Meta-latent", 0, table.n_meta - 1, view.meta_latent, key=f"meta-{view.meta_latent}")
if picked != view.meta_latent:
    st.query_params.from_dict(view.params(m=int(picked)))
    st.rerun()
threshold = threshold_control(view, table)
members = table.members(view.meta_latent, threshold)
st.header(f"Meta-latent {view.meta_latent}: {md(meta_label(members, labels))}")
st.caption("Label: the words most shared by the labels of its strongest member latents.")
cols = st.columns(3)
cols[0].metric("Latents containing it", f"{len(members):,}")
cols[1].metric("Fraction of latents", f"{len(members) / table.d_sae:.2%}")
cols[2].metric("Strongest activation", f"{members[0][1]:.3f}" if members else "—")
steering_section(
    view,
    f"meta-latent {view.meta_latent}",
    "its member latents' mean largest activation",
    lambda: meta_steering(view.release, meta, view.meta_latent, threshold),
    can_clamp=False,
)

left, right = st.columns([3, 2])
with left:
    st.subheader("Member latents")
    if not members:
        st.info("No latent contains this meta-latent at this threshold.")
    linked_list(view, members, "activation")
with right:
    st.subheader("Activation over all latents")
    values = table.member_values(view.meta_latent).numpy()
    if len(values):
        st.plotly_chart(meta_activation_histogram(values, threshold), width="stretch")
    st.subheader("Logit lens of its decoder direction")
    logit_lens_table(view, meta_id, view.meta_latent)
