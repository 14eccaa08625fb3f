"""SAE overview: the story first (Start here, the family's figures, what the meta-latents mean), then quality
metrics, configuration and weights (folded), the density histogram, atomicity and the table of latents."""

import streamlit as st

from backend.core.config import read_only
from backend.core.errors import AtlasError
from backend.explore.overview import log_density
from backend.metasae.atomicity import ATOM_COSINE, COMPOSITION_COSINE, summarise_atomicity
from backend.web.render import md
from pages.access.lenses import overview_table
from pages.access.saes import family_differences_of, latent_atomicity, member_metrics, random_nn_cosine, sae
from pages.access.saes import summary as sae_summary_of
from pages.access.state import catalog, current_view, meta_id_for
from pages.sections.build_status import build_complete, build_panel
from pages.sections.families import families_link
from pages.sections.family_story import family_figures
from pages.sections.figures import atomicity_histogram, density_histogram
from pages.sections.neuronpedia_import import import_form
from pages.sections.start_here import meta_meaning, read_meaning, start_here
from pages.sections.train_meta import meta_form
from pages.sections.widgets import index_ready, table_downloads

view = current_view()
release = catalog()[view.release]
st.header(f"{release.title} — SAE {view.sae}")
if release.nested:
    st.caption(
        f"One nested dictionary: SAE {view.sae} is the first {release.sae(view.sae).prefix:,} latents of a Matryoshka "
        "SAE, and its latent i is latent i of every wider SAE of this family."
    )
if not build_complete(release):
    build_panel(release)

try:
    model = sae(view.release, view.sae)
except AtlasError as err:
    st.error(f"This SAE cannot be loaded: {md(err)}")
    st.stop()

meta_id = meta_id_for(view)
found = read_meaning(view, meta_id) if meta_id and index_ready(view, quiet=True) else None
if meta_id and found is not None:
    start_here(view, meta_id, found)
family_figures(view)
families_link(release, view.sae)
if release.built and build_complete(release):
    differences = family_differences_of(view.release)
    if differences:
        st.info(differences, icon="📄")

meta_quality = member_metrics(view.release, meta_id) if meta_id else None
if meta_quality:
    st.subheader(f"Meta-SAE {meta_id} on this SAE's decoder rows")
    meta_cols = st.columns(3)
    meta_cols[0].metric("Decoder variance explained", f"{meta_quality['variance_explained']:.1%}")
    if "coherence_mean" in meta_quality:
        meta_cols[1].metric(
            "Member coherence",
            f"{meta_quality['coherence_mean']:.3f}",
            help=(
                "Mean pairwise cosine of the top-8 member latents' activations on "
                f"{meta_quality.get('coherence_tokens', 0):,.0f} held-out tokens; random sets of 8 give "
                f"{meta_quality['coherence_random_baseline']:.3f}. Sparse SAEs seldom fire two related latents on "
                "the same token, so this stays low for any grouping; the WordNet measure below judges meaning."
            ),
        )
        meta_cols[2].metric("Meta-latents with members", f"{meta_quality['meta_latents_with_members']:.0f}")
    else:
        meta_cols[1].caption("Member coherence: measured by the build only (this meta-SAE was trained from the app).")
    if meta_id and found is not None:
        meta_meaning(view, meta_id, found)

metrics = member_metrics(view.release, view.sae)
if metrics:
    st.subheader("Quality on held-out tokens")
    cols = st.columns(5)
    cols[0].metric("Variance unexplained (FVU)", f"{metrics['fvu']:.3f}")
    cols[1].metric("L0 (active latents per token)", f"{metrics['l0']:.1f}")
    cols[2].metric("Dead latents", f"{metrics['dead_fraction']:.1%}")
    cols[3].metric(
        "Nearest-neighbour decoder cosine",
        f"{metrics.get('nn_cosine_mean', float('nan')):.3f}",  # an older build's prefix metrics lack it
        help=f"A random dictionary of this shape gives {random_nn_cosine(model.cfg.d_sae, model.cfg.d_in):.3f}.",
    )
    cols[4].metric(
        "Decoder cosine with its initialisation",
        f"{metrics.get('cosine_with_init_mean', float('nan')):.3f}",
        help="How far training moved the decoder rows; near 1 means barely moved.",
    )

with st.expander("Configuration and weights"):
    summary = sae_summary_of(view.release, view.sae)
    left, right = st.columns(2)
    left.subheader("Configuration")
    left.table(summary["config"])
    right.subheader("Weights")
    right.table(summary["weights"])

st.subheader("Latents")
if not index_ready(view):
    st.stop()
table = overview_table(view.release, view.sae, meta_id)
st.plotly_chart(density_histogram(log_density(table)), width="stretch")
if meta_id:
    parts = latent_atomicity(view.release, meta_id)
    summary_of = summarise_atomicity(parts)
    st.subheader("Atomicity: compositions and atoms")
    atom_cols = st.columns(4)
    atom_cols[0].metric("Mean reconstruction cosine", f"{summary_of.mean_cosine:.3f}")
    atom_cols[1].metric("Quartiles", " / ".join(f"{q:.2f}" for q in summary_of.quartiles))
    atom_cols[2].metric(f"Compositions (≥ {COMPOSITION_COSINE}, 2+ parts)", f"{summary_of.compositions:.0%}")
    atom_cols[3].metric(f"Atoms (< {ATOM_COSINE})", f"{summary_of.atoms:.0%}")
    st.plotly_chart(
        atomicity_histogram(parts["meta cosine"].to_numpy(), COMPOSITION_COSINE, ATOM_COSINE), width="stretch"
    )
    st.caption(
        f"How well meta-SAE {meta_id} rebuilds each latent's decoder direction from parts it shares with other "
        "latents (the *meta cosine* and *meta parts* columns below; sort by them). A high cosine with several parts "
        "is a composition, like the paper's 'Einstein' (science + famous people + German); a low cosine means the "
        "latent is an atom at this meta-SAE's size: nothing it shares with others rebuilds it (or the meta-SAE "
        f"missed it). {summary_of.mean_parts:.1f} parts per latent on average."
    )
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "density": st.column_config.NumberColumn(format="%.5f"),
        "max": st.column_config.NumberColumn(format="%.2f"),
        "meta cosine": st.column_config.NumberColumn(format="%.3f"),
        "seed cosine": st.column_config.NumberColumn(
            format="%.3f", help="Decoder cosine with its partner in the second seed."
        ),
    },
)
st.caption("Sort by clicking a column header; open a latent from the Latent card page or by search.")
table_downloads(lambda: table, f"{view.release}-{view.sae}-latents", "latents")

if not read_only():
    meta_form(view, model.cfg.d_sae)
    import_form(view)
