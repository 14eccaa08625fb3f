"""What every page shares: the parsed view, cached access to the backend, and small widgets.

Pages only render. All computation comes from `backend/` through the bounded caches below.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from backend.cards import Card, CardReader
from backend.catalog import Release, load_catalog
from backend.errors import AtlasError
from backend.latent_map import cached_map, map_path, map_table, meta_labels, novelty, top_meta_latents
from backend.loading import files_stamp, load_meta_sae, load_sae
from backend.meta import Decompositions, build_decompositions, reconstruction_cosine
from backend.models import LanguageModel, load_language_model
from backend.neuronpedia import EXPLANATIONS
from backend.paper import family_differences
from backend.polysemy import WordProbe, probe_word
from backend.polysemy_bench import cached_predictions
from backend.probe_sets import hub_probe_set, wordnet_probe_set
from backend.sae import SAE
from backend.stitch_family import (
    CurveSettings,
    cached_curves,
    curves_path,
    matching_path,
    neighbour_pairs,
    pair_classification,
)
from backend.stitching import DEFAULT_THRESHOLD, Classification
from backend.store import IndexReader
from backend.urlstate import View, parse_view

CSS = (Path(__file__).resolve().parent.parent.parent / "assets" / "style.css").read_text()


@st.cache_data(ttl=60, max_entries=4)
def catalog() -> dict[str, Release]:
    return load_catalog()


def current_view() -> View:
    """The view named by the URL, written back in canonical form so the address bar always
    reproduces what is shown (page links and fallbacks otherwise leave it stale). The router calls
    this first and shows the warnings; a page's later call sees the canonical, warning-free URL."""
    view = parse_view(st.query_params.to_dict(), catalog())
    st.query_params.from_dict(view.params())
    return view


def show_warnings(view: View) -> None:
    for warning in view.warnings:
        st.warning(warning, icon="⚠️")


@st.cache_resource(max_entries=4, show_spinner="Loading SAE…")
def _sae(release_id: str, sae_id: str, stamp: float | None) -> SAE:
    return load_sae(catalog()[release_id], sae_id).sae


def sae(release_id: str, sae_id: str) -> SAE:
    """The SAE, reloaded when its files change on disk."""
    location = catalog()[release_id].sae(sae_id).location
    return _sae(release_id, sae_id, files_stamp(location.path, location.kind))


@st.cache_resource(max_entries=4, show_spinner="Loading the meta-SAE…")
def _meta_sae(release_id: str, meta_id: str, stamp: float | None) -> SAE:
    release = catalog()[release_id]
    return load_meta_sae(release, meta_id, sae(release_id, release.meta(meta_id).over))


def meta_stamp(release_id: str, meta_id: str) -> tuple[float | None, float | None]:
    release = catalog()[release_id]
    meta, base = release.meta(meta_id).location, release.sae(release.meta(meta_id).over).location
    return files_stamp(meta.path, meta.kind), files_stamp(base.path, base.kind)


def meta_sae(release_id: str, meta_id: str) -> SAE:
    return _meta_sae(release_id, meta_id, meta_stamp(release_id, meta_id)[0])


@st.cache_resource(max_entries=4, show_spinner="Decomposing every latent with the meta-SAE…")
def _decompositions(release_id: str, meta_id: str, stamp: tuple[float | None, float | None]) -> Decompositions:
    release = catalog()[release_id]
    return build_decompositions(meta_sae(release_id, meta_id), sae(release_id, release.meta(meta_id).over))


def decompositions(release_id: str, meta_id: str) -> Decompositions:
    """Every latent's decomposition, computed once in one batched pass (again if the files change)."""
    return _decompositions(release_id, meta_id, meta_stamp(release_id, meta_id))


def row_cosine(release_id: str, meta_id: str, latent: int) -> float:
    """How well the meta-SAE reconstructs one latent's decoder row."""
    over = catalog()[release_id].meta(meta_id).over
    return reconstruction_cosine(meta_sae(release_id, meta_id), sae(release_id, over), latent)


def meta_id_for(view: View) -> str | None:
    metas = catalog()[view.release].meta_for(view.sae)
    return metas[0].id if metas else None


@st.cache_data(max_entries=16)
def _built_metrics(release_id: str, folder: str) -> dict[str, float] | None:
    """The metrics a build wrote beside an SAE or meta-SAE (None for releases not built here)."""
    path = Path(folder) / "metrics.json"
    if catalog()[release_id].built and path.exists():
        return dict(json.loads(path.read_text()))
    return None


def meta_metrics(release_id: str, meta_id: str) -> dict[str, float] | None:
    return _built_metrics(release_id, catalog()[release_id].meta(meta_id).location.path)


@st.cache_resource(max_entries=2, show_spinner="Loading the language model…")
def language_model(spec: str) -> LanguageModel:
    return load_language_model(spec)


def index_stamp(release_id: str, sae_id: str) -> float | None:
    """When the index was last written; part of every cache key, so a rebuilt or removed index is never served stale."""
    folder = catalog()[release_id].root / "index" / sae_id
    stamps = [p.stat().st_mtime for p in (folder / "meta.json", folder / EXPLANATIONS) if p.exists()]
    return max(stamps) if stamps else None


@st.cache_resource(max_entries=8)
def _cards(release_id: str, sae_id: str, stamp: float | None) -> CardReader:
    return CardReader(IndexReader(catalog()[release_id].root / "index" / sae_id))


def cards(release_id: str, sae_id: str) -> CardReader:
    stamp = index_stamp(release_id, sae_id)
    return _cards(release_id, sae_id, stamp)


@st.cache_data(max_entries=256)
def _card(release_id: str, sae_id: str, latent: int, stamp: float | None) -> Card:
    return cards(release_id, sae_id).card(latent)


def card(release_id: str, sae_id: str, latent: int) -> Card:
    return _card(release_id, sae_id, latent, index_stamp(release_id, sae_id))


@st.cache_data(max_entries=8)
def _latent_table(release_id: str, sae_id: str, with_tokens: bool, stamp: float | None) -> pd.DataFrame:
    columns = ["latent", "density", "max", "mean", "label"] + (["top_tokens"] if with_tokens else [])
    return cards(release_id, sae_id).index.table(columns)


def latent_table(release_id: str, sae_id: str, with_tokens: bool = False) -> pd.DataFrame:
    return _latent_table(release_id, sae_id, with_tokens, index_stamp(release_id, sae_id))


def latent_labels(release_id: str, sae_id: str) -> list[str] | None:
    """Every latent's label, or None when the SAE has no index."""
    try:
        return list(latent_table(release_id, sae_id)["label"])
    except AtlasError:
        return None


def family_differences_of(release_id: str) -> str:
    """How a built family's setting and meta-SAE differ from the paper's, from its stored metrics."""
    release = catalog()[release_id]
    metrics = [sae_metrics(release_id, sae_id) or {} for sae_id in release.sae_ids]
    sizes = family_sizes(release_id)
    d_model = sae(release_id, release.sae_ids[0]).cfg.d_in
    metas = [meta_metrics(release_id, meta.id) or {} for meta in release.meta_saes]
    return family_differences(
        d_model,
        [m["l0"] for m in metrics if "l0" in m],
        (min(sizes.values()) / d_model, max(sizes.values()) / d_model),
        len(sizes),
        int(metrics[-1]["train_tokens"]) if "train_tokens" in metrics[-1] else None,
        metas[0].get("variance_explained") if metas else None,
    )


def sae_metrics(release_id: str, sae_id: str) -> dict[str, float] | None:
    return _built_metrics(release_id, catalog()[release_id].sae(sae_id).location.path)


def _mtime(path: Path) -> float | None:
    return path.stat().st_mtime if path.exists() else None


@st.cache_resource(max_entries=16)
def _classification(
    release_id: str, small: str, large: str, threshold: float, stamp: float | None
) -> Classification | None:
    return pair_classification(catalog()[release_id], small, large, threshold)


def classification(release_id: str, small: str, large: str, threshold: float) -> Classification | None:
    """The pair's novel/reconstruction split from its stored matching; None until it is computed."""
    stamp = _mtime(matching_path(catalog()[release_id], small, large))
    return _classification(release_id, small, large, threshold, stamp)


@st.cache_data(max_entries=8)
def _curves(release_id: str, settings: CurveSettings, stamp: float | None) -> pd.DataFrame | None:
    return cached_curves(catalog()[release_id], settings)


def stitching_curves(release_id: str, settings: CurveSettings) -> pd.DataFrame | None:
    return _curves(release_id, settings, _mtime(curves_path(catalog()[release_id], settings)))


def stitch_threshold(view: View) -> float:
    return view.stitch_threshold if view.stitch_threshold is not None else DEFAULT_THRESHOLD


def family_neighbours(view: View) -> tuple[str | None, str | None]:
    """The next smaller and next larger SAE of the view's SAE in its family."""
    pairs = neighbour_pairs(catalog()[view.release])
    smaller = next((small for small, large in pairs if large == view.sae), None)
    larger = next((large for small, large in pairs if small == view.sae), None)
    return smaller, larger


@st.cache_data(max_entries=4, show_spinner="Preparing the map…")
def _map_data(
    release_id: str, sae_id: str, meta_id: str | None, smaller: str | None, threshold: float, stamps: tuple
) -> pd.DataFrame | None:
    release = catalog()[release_id]
    coords = cached_map(release, sae_id)
    if coords is None:
        return None
    labels = latent_labels(release_id, sae_id)
    density = None
    if labels is not None:
        density = np.log10(latent_table(release_id, sae_id)["density"].to_numpy().clip(1e-10))
    top_meta = names = None
    if meta_id is not None:
        decomps = decompositions(release_id, meta_id)
        top_meta = top_meta_latents(decomps)
        names = meta_labels(decomps, labels) if labels is not None else None
    found = classification(release_id, smaller, sae_id, threshold) if smaller else None
    return map_table(coords, labels, density, top_meta, names, novelty(found) if found else None)


def map_data(
    release_id: str, sae_id: str, meta_id: str | None, smaller: str | None, threshold: float
) -> pd.DataFrame | None:
    """The latent map with every available colouring; None until the map is computed."""
    release = catalog()[release_id]
    stamps = (
        _mtime(map_path(release, sae_id)),
        index_stamp(release_id, sae_id),
        meta_stamp(release_id, meta_id) if meta_id else None,
        _mtime(matching_path(release, smaller, sae_id)) if smaller else None,
    )
    return _map_data(release_id, sae_id, meta_id, smaller, threshold, stamps)


@st.cache_data(max_entries=4, show_spinner="Loading the probe set…")
def probe_pairs(source: str) -> pd.DataFrame:
    """A named probe set: "wordnet" (built offline) or "ps-eval" (from the Hub)."""
    return wordnet_probe_set() if source == "wordnet" else hub_probe_set()


def family_sizes(release_id: str) -> dict[str, int]:
    return {sae_id: sae(release_id, sae_id).cfg.d_sae for sae_id in catalog()[release_id].sae_ids}


def stored_predictions(release_id: str, probe: pd.DataFrame, mode: str) -> dict[str, pd.DataFrame]:
    release = catalog()[release_id]
    return cached_predictions(release, probe, mode, release.sae_ids)  # type: ignore[arg-type]


@st.cache_data(max_entries=32, show_spinner="Reading the word with every SAE…")
def word_probe(release_id: str, word: str, contexts: tuple[str, ...], mode: str) -> dict[str, WordProbe]:
    release = catalog()[release_id]
    saes = {sae_id: sae(release_id, sae_id) for sae_id in release.sae_ids}
    return probe_word(language_model(release.model), release, saes, word, list(contexts), mode)  # type: ignore[arg-type]


def index_ready(view: View, quiet: bool = False) -> bool:
    """Whether the SAE has an index; if not, say how to build one (unless `quiet`) and return False."""
    try:
        cards(view.release, view.sae).index.meta  # noqa: B018 - reading meta validates the store
    except AtlasError as err:
        if quiet:
            return False
        release = catalog()[view.release]
        how = (
            "`python -m backend build`"
            if release.built
            else f"`python -m backend index --release {view.release} --sae {view.sae}`"
        )
        st.error(f"{err} To build it, run {how}.")
        return False
    return True


def latent_link(view: View, latent: int, label: str = "", sae: str | None = None) -> None:
    """A link to a latent's card, in another SAE of the family when `sae` is given."""
    prefix = f"SAE-{sae} " if sae and sae != view.sae else ""
    st.page_link(
        "pages/views/latent.py",
        label=f"{prefix}#{latent} {label}".strip(),
        query_params=view.params(latent=latent, sae=sae or view.sae, q=None, text=None, token=None),
    )


def meta_link(view: View, meta_latent: int, label: str = "") -> None:
    st.page_link(
        "pages/views/meta.py",
        label=f"meta {meta_latent} {label}".strip(),
        query_params=view.params(m=meta_latent, q=None, text=None, token=None),
    )


def style() -> None:
    st.html(f"<style>{CSS}</style>")
