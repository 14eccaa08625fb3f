"""Add your own SAE: the form behind `python -m backend add` (hidden on a read-only deployment).

From the browser an SAE or a corpus is an upload, something under the folders the operator allowed (picked
from a list), or a Hub repo; never a path typed into the page (backend/pipeline/visitor.py, SECURITY.md)."""

from typing import cast

import streamlit as st

from backend.core.config import read_only
from backend.core.errors import AtlasError
from backend.pipeline.add import AddRequest, add_release, typed_hub_source
from backend.pipeline.visitor import Offer, offered_corpora, offered_saes, save_corpus_upload, save_sae_upload
from backend.sources.release import CORPUS_SUFFIXES, CorpusKind, CorpusSpec
from backend.web.render import md
from pages.access.state import page, refresh_catalog
from pages.sections.widgets import progress_bar

CORPORA = {
    "wordnet": "WordNet glosses (offline)",
    "offered": "A file the server offers",
    "upload": "Upload a file",
    "hub": "Hub dataset",
}
NO_OFFER = "—"


@st.cache_data(ttl=30, show_spinner=False)
def _offers(kind: str) -> list[Offer]:
    return offered_saes() if kind == "sae" else offered_corpora()


def _picked(offers: list[Offer], label: str) -> str:
    return next(o.path for o in offers if o.label == label).as_posix()


st.header("Add your SAE")
if read_only():
    st.info("This deployment is read-only: add SAEs where you run the app, with `python -m backend add`.")
    st.stop()
st.caption(
    "SAELens SAEs (cfg.json + sae_weights.safetensors): upload one, pick folders this server offers, or name Hub "
    "repos (owner/name[@revision][/subfolder]), several for a family. The hook, model and context size come from "
    "each SAE's cfg.json unless you give them. Everything is checked before anything is written; then the release "
    "is registered and indexed (the same as `python -m backend add`)."
)
sae_offers, corpus_offers = _offers("sae"), _offers("corpus")
with st.form("add"):
    release_id = st.text_input("Release id", placeholder="my-sae", max_chars=64)
    picked = st.multiselect(
        "SAE folders this server offers",
        [o.label for o in sae_offers],
        placeholder="none offered" if not sae_offers else "choose folders",
    )
    hub_sources = st.text_area("Hub repos, one per line", placeholder="someone/saes/layer8")
    uploaded = st.file_uploader(
        "Or upload one SAE: its cfg.json and sae_weights.safetensors", accept_multiple_files=True
    )
    left, right = st.columns(2)
    model = left.text_input("Model (optional)", placeholder="gpt2, embedded:smollm2-135m-instruct")
    hook = right.text_input("Hook (optional)", placeholder="blocks.8.hook_resid_pre")
    convention = left.selectbox("Convention", ["from the SAE", "hf", "transformer_lens"])
    kind = right.selectbox("Corpus", list(CORPORA), format_func=CORPORA.__getitem__)
    offered_file = left.selectbox("Corpus file this server offers", [NO_OFFER, *(o.label for o in corpus_offers)])
    # No `type=`: Streamlit would refuse other names with its own error box before this script runs; the app's
    # check (save_corpus_upload) refuses them with a sentence.
    corpus_upload = right.file_uploader(f"Corpus upload ({', '.join(CORPUS_SUFFIXES)})")
    dataset = left.text_input("Hub dataset repo (Hub corpus)", placeholder="NeelNanda/pile-10k")
    column = right.text_input("Text column (.jsonl, .parquet, Hub)", value="text")
    contexts = left.number_input("Contexts to index", 8, 100_000, 1024)
    d_meta = right.number_input("Meta-SAE size on the largest SAE (0: none)", 0, 1 << 16, 0)
    submitted = st.form_submit_button("Check, add and index", type="primary")
if submitted:
    notes: list[str] = []
    try:
        sources = [_picked(sae_offers, label) for label in picked]
        sources += [typed_hub_source(line.strip()) for line in hub_sources.splitlines() if line.strip()]
        if uploaded:
            sources.append(save_sae_upload(release_id.strip(), [(f.name, f.getvalue()) for f in uploaded]).as_posix())
        if not sources:
            raise AtlasError("Give at least one SAE: upload one, pick an offered folder or name a Hub repo.")
        path = ""
        if kind == "offered":
            if offered_file == NO_OFFER:
                raise AtlasError("Pick the corpus file, or choose another corpus.")
            path = _picked(corpus_offers, offered_file)
        elif kind == "upload":
            if corpus_upload is None:
                raise AtlasError("Upload the corpus file, or choose another corpus.")
            path = save_corpus_upload(release_id.strip(), corpus_upload.name, corpus_upload.getvalue()).as_posix()
        corpus_kind = cast(CorpusKind, "local" if path else kind)
        corpus = CorpusSpec(
            corpus_kind, path=path, repo=dataset.strip() if kind == "hub" else "", column=column or "text"
        )
        request = AddRequest(
            release_id=release_id.strip(),
            sources=tuple(sources),
            corpus=corpus,
            model=model.strip() or None,
            hook=hook.strip() or None,
            convention=None if convention == "from the SAE" else convention,
            contexts=int(contexts),
            d_meta=int(d_meta) or None,
            confined=True,
        )
        release = add_release(request, progress_bar("Checking the SAEs, the model and the corpus…"), notes.append)
    except AtlasError as err:
        st.error(f"{md(err)} Nothing was registered; fix it and press the button again.")
        st.stop()
    refresh_catalog()
    _offers.clear()
    st.success(f"Added {md(release.title)} with SAEs {', '.join(release.sae_ids)}.")
    for note in notes:
        st.warning(md(note))
    st.page_link(page("overview"), label="Open its overview", query_params={"release": release.id})
