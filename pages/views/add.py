"""Add your own SAE: the form behind `python -m backend add` (hidden on a read-only deployment)."""

from pathlib import Path
from typing import cast

import streamlit as st

from backend.core.config import read_only
from backend.core.errors import AtlasError
from backend.pipeline.add import AddRequest, add_release
from backend.sources.catalog import CorpusKind, CorpusSpec
from backend.web.render import md
from pages.views.state import refresh_catalog
from pages.views.widgets import progress_bar

CORPORA = {"wordnet": "WordNet glosses (offline)", "local": "Local file or folder", "hub": "Hub dataset"}

st.header("Add your SAE")
if read_only():
    st.info("This deployment is read-only: add SAEs where you run the app, with `python -m backend add`.")
    st.stop()
st.caption(
    "A SAELens folder on this machine or a Hub repo (owner/name[@revision][/subfolder]), one per line for a family. "
    "The hook, model and context size come from each SAE's cfg.json unless you give them. Everything is checked "
    "before anything is written; then the release is registered and indexed (the same as `python -m backend add`)."
)
with st.form("add"):
    release_id = st.text_input("Release id", placeholder="my-sae", max_chars=64)
    sources = st.text_area("SAEs, one per line", placeholder="/home/me/runs/my-sae-4608\nsomeone/saes/layer8")
    left, right = st.columns(2)
    model = left.text_input("Model (optional)", placeholder="gpt2, local:/path, embedded:smollm2-135m-instruct")
    hook = right.text_input("Hook (optional)", placeholder="blocks.8.hook_resid_pre")
    convention = left.selectbox("Convention", ["from the SAE", "hf", "transformer_lens"])
    kind = right.selectbox("Corpus", list(CORPORA), format_func=CORPORA.__getitem__)
    where = left.text_input("Corpus path or dataset repo (local / Hub)")
    column = right.text_input("Text column (.jsonl, .parquet, Hub)", value="text")
    contexts = left.number_input("Contexts to index", 8, 100_000, 1024)
    d_meta = right.number_input("Meta-SAE size on the largest SAE (0: none)", 0, 1 << 16, 0)
    submitted = st.form_submit_button("Check, add and index", type="primary")
if submitted:
    corpus = CorpusSpec(
        cast(CorpusKind, kind),
        path=str(Path(where).expanduser()) if kind == "local" else "",
        repo=where if kind == "hub" else "",
        column=column or "text",
    )
    request = AddRequest(
        release_id=release_id.strip(),
        sources=tuple(line.strip() for line in sources.splitlines() if line.strip()),
        corpus=corpus,
        model=model.strip() or None,
        hook=hook.strip() or None,
        convention=None if convention == "from the SAE" else convention,
        contexts=int(contexts),
        d_meta=int(d_meta) or None,
    )
    if not request.sources:
        st.error("Give at least one SAE: a SAELens folder or a Hub repo, one per line.")
        st.stop()
    try:
        release = add_release(request, progress_bar("Checking the SAEs, the model and the corpus…"))
    except AtlasError as err:
        st.error(f"{md(err)} Nothing was registered; fix it and press the button again.")
        st.stop()
    refresh_catalog()
    st.success(f"Added {md(release.title)} with SAEs {', '.join(release.sae_ids)}.")
    st.page_link("pages/views/overview.py", label="Open its overview", query_params={"release": release.id})
