"""Polysemy probes: which latents a word gets in different contexts, and PS-Eval across the family."""

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from backend.core.errors import AtlasError
from backend.polysemy.probe import MODES, RESIDUAL, TEMPLATE
from backend.polysemy.probe_sets import COLUMNS, MAX_UPLOAD_BYTES, ProbeSetError
from backend.polysemy.summary import FOLDS, beyond_argmax, pair_table, size_trend, summarise, threshold_readings
from backend.web.budget import probe_limit, probe_set_cost
from backend.web.render import md
from backend.web.urlstate import PROBE_SETS
from pages.access.actions import run_benchmark
from pages.access.indexes import latent_labels
from pages.access.polysemy import probe_pairs, stored_predictions, uploaded_pairs, word_probe
from pages.access.saes import family_sizes
from pages.access.state import catalog, current_view
from pages.sections.figures import benchmark_figure
from pages.sections.widgets import action_allowed, latent_link, progress_bar, table_downloads

DEFAULT_WORD = "bank"
DEFAULT_CONTEXTS = (
    "He sat on the bank of the river and watched the water.",
    "She went to the bank to deposit her paycheck.",
    "The bank approved the loan after a week.",
)
MODE_LABELS = {"template": f'PS-Eval template: "{TEMPLATE}"', "context": "the word inside the plain context"}
SET_LABELS = {
    "wordnet": "WordNet senses (offline, 400 balanced pairs)",
    "ps-eval": "PS-Eval WiC set (Hugging Face Hub)",
    "upload": "Upload a CSV",
}
METRICS = ["precision", "recall", "f1", "specificity", "accuracy"]

view = current_view()
release = catalog()[view.release]
st.header("Polysemy probes")
st.caption(
    "After PS-Eval (Minegishi et al. 2025): a word is read at its token, and a pair of contexts is predicted "
    "*same meaning* when both give the same strongest (argmax) latent. Counted as PS-Eval's reference code "
    "(`wic_eval.py`) counts, so the figures compare with the paper's: the positive class is *same meaning* "
    "(TP = same meaning and same argmax, FP = different meaning and same argmax), and same-meaning pairs are "
    "used only up to the number of different-meaning pairs probed (the table's *unbalanced* column). Words of "
    "several tokens (after a space) are skipped and counted."
)
mode = st.radio(
    "Read the word in", MODES, index=MODES.index(view.mode), format_func=MODE_LABELS.__getitem__, horizontal=True
)
if mode != view.mode:
    st.query_params.from_dict(view.params(mode=mode))
    st.rerun()
probe_tab, bench_tab = st.tabs(["Probe a word", "Benchmark across sizes"])


def latent_links(sae_id: str, latents: list[int], labels: Sequence[str] | None) -> None:
    for latent in latents:
        latent_link(view, latent, labels[latent] if labels else "", sae=sae_id)


def show_probe(word: str, contexts: tuple[str, ...]) -> None:
    try:
        results = word_probe(view.release, word, contexts, view.mode)
    except AtlasError as err:
        st.error(f"{md(err)} Check the release on the SAE overview page.")
        return
    for sae_id, probe in results.items():
        labels = latent_labels(view.release, sae_id)
        with st.expander(f"SAE {sae_id}", expanded=sae_id == view.sae):
            table = pd.DataFrame(
                {
                    "context": contexts,
                    "argmax latent": [a if a is not None else "skipped" for a in probe.argmax],
                    "top latents (activation)": [
                        skip or ", ".join(f"{lat} ({val:.2f})" for lat, val in top[:5])
                        for top, skip in zip(probe.top, probe.skipped, strict=True)
                    ],
                }
            )
            st.dataframe(table, hide_index=True, width="stretch")
            argmax = sorted({a for a in probe.argmax if a is not None and a >= 0})
            st.markdown("**Argmax latents**")
            latent_links(sae_id, argmax, labels)
            shared, specific = st.columns(2)
            with shared:
                st.markdown("**Shared by every context**")
                latent_links(sae_id, probe.shared(), labels)
            with specific:
                for number, context in enumerate(contexts):
                    if probe.skipped[number] is None:
                        st.markdown(f"**Only in:** {md(context, 60)}")
                        latent_links(sae_id, probe.specific(number)[:4], labels)


with probe_tab:
    with st.form("probe"):
        word = st.text_input("Word (one token after a space)", value=view.word or DEFAULT_WORD, max_chars=50)
        text = st.text_area("Contexts, one per line (2 to 8)", value="\n".join(view.contexts or DEFAULT_CONTEXTS))
        if st.form_submit_button("Probe", type="primary"):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            st.query_params.from_dict(view.params(word=word.strip(), ctx="\n".join(lines)))
            st.rerun()
    if view.word and len(view.contexts) >= 2:
        show_probe(view.word, view.contexts)
    elif view.word:
        st.error("Give at least two contexts, one per line, then press Probe.")
    else:
        st.caption("Press Probe to read the word in each context with every SAE of the family.")


def chosen_pairs(source: str) -> pd.DataFrame | None:
    """The probe set picked, or None (with the reason shown) when it cannot be had."""
    if source != "upload":
        try:
            return probe_pairs(source)
        except AtlasError as err:
            st.error(f"{md(err)} Pick the offline WordNet set, or upload your own pairs as a CSV.")
            return None
    if not action_allowed("reading uploaded probe sets", "the CLI on your own machine"):
        return None
    upload = st.file_uploader(
        f"CSV with a header row: {', '.join(COLUMNS[:3])}, label (1 = same meaning)",
        type="csv",
        max_upload_size=MAX_UPLOAD_BYTES // 10**6,  # the widget says the app's limit, not the server's 200 MB
    )
    st.caption(probe_limit())
    if upload is None:
        return None
    try:
        return uploaded_pairs(upload.getvalue())
    except ProbeSetError as err:
        st.error(f"{md(err)} Fix the file and upload it again.")
        return None


def show_beyond_argmax(probe: pd.DataFrame, by_reader: dict[str, pd.DataFrame], summary: pd.DataFrame) -> None:
    st.subheader("Beyond the strongest latent")
    st.caption(
        "PS-Eval asks only whether the *strongest* latent changes. Here each pair is predicted *same meaning* when "
        "the cosine of its two readings is above a threshold, for each SAE's whole code and for the activations at "
        f"the hook themselves (no SAE: what the model holds there). The threshold is fit by {FOLDS}-fold "
        "cross-validation on the pairs counted above, so no pair is judged by a threshold fit on it."
    )
    readings = threshold_readings(probe, by_reader, family_sizes(view.release))
    sentence = beyond_argmax(summary, readings)
    if sentence:
        st.info(sentence)
    st.dataframe(readings, hide_index=True, width="stretch")
    table_downloads(lambda: readings, f"{view.release}-polysemy-{view.probe_set}-{view.mode}-cosine", "polysemy-cosine")


def show_benchmark(probe: pd.DataFrame, by_reader: dict[str, pd.DataFrame]) -> None:
    by_sae = {reader: frame for reader, frame in by_reader.items() if reader != RESIDUAL}
    summary = summarise(probe, by_sae, family_sizes(view.release))
    trend = size_trend(summary)
    if trend:
        st.info(trend)
    st.dataframe(summary, hide_index=True, width="stretch")
    table_downloads(lambda: summary, f"{view.release}-polysemy-{view.probe_set}-{view.mode}", "polysemy-summary")
    st.plotly_chart(benchmark_figure(summary, METRICS), width="stretch")
    skipped = int(summary["skipped"].max())
    if skipped:
        st.caption(f"{skipped} of {len(probe)} pairs skipped (reasons in the table): the word is not one token here.")
    show_beyond_argmax(probe, by_reader, summary)
    sae_id = st.selectbox("Pairs as read by SAE", list(by_sae), index=len(by_sae) - 1)
    pairs = pair_table(probe, by_sae[sae_id])
    st.dataframe(pairs, hide_index=True, width="stretch")
    table_downloads(lambda: pairs, f"{view.release}-{sae_id}-polysemy-pairs", "polysemy-pairs")


with bench_tab:
    source = st.selectbox(
        "Probe set", PROBE_SETS, index=PROBE_SETS.index(view.probe_set), format_func=SET_LABELS.__getitem__
    )
    if source != view.probe_set:
        st.query_params.from_dict(view.params(set=source))
        st.rerun()
    probe = chosen_pairs(source)
    if probe is not None:
        st.caption(
            f"{len(probe)} pairs: {int(probe['same'].sum())} same meaning, {int((~probe['same']).sum())} different."
        )
        stored = stored_predictions(view.release, probe, view.mode)
        if set(stored) == {*release.sae_ids, RESIDUAL}:
            show_benchmark(probe, stored)
        elif action_allowed("running the benchmark", "python -m backend build") and st.button(
            "Run the benchmark on every SAE", type="primary", help=probe_set_cost(probe).sentence()
        ):
            report = progress_bar("Starting…")
            try:
                run_benchmark(view.release, probe, view.mode, report)
            except AtlasError as err:
                st.error(f"{md(err)} SAEs finished so far are stored; running again continues from them.")
            else:
                st.rerun()
        else:
            st.info("Not run yet for this probe set and reading mode; results are stored per SAE once run.")
