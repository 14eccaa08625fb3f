"""Cached access to the backend for the pages: bounded `st.cache_*` wrappers keyed on the files they read,
so a rebuilt SAE, index or analysis is never served stale. Pages read data only through here."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from backend.core.errors import AtlasError
from backend.explore.latent_map import cached_map, map_path, map_table, meta_labels, novelty, top_meta_latents
from backend.explore.overview import sae_summary
from backend.explore.paper import family_differences
from backend.explore.search import TextActivations, encode_text
from backend.index.cards import Card, CardReader
from backend.index.store import DATA_FILES, META, IndexReader
from backend.metasae.atomicity import atomicity
from backend.metasae.decompose import Decompositions, build_decompositions, reconstruction_cosine
from backend.models.geometry import best_matches, logit_lens
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import files_stamp, load_meta_sae, load_sae
from backend.models.sae import SAE
from backend.polysemy.bench import cached_predictions
from backend.polysemy.probe import Mode, WordProbe, probe_word
from backend.polysemy.probe_sets import hub_probe_set, parse_probe_csv, wordnet_probe_set
from backend.sources.neuronpedia import EXPLANATIONS
from backend.steering.directions import Direction, latent_direction, meta_direction
from backend.stitching.family import (
    CurveConfig,
    cached_curves,
    curves_path,
    matching_path,
    neighbour_pairs,
    pair_classification,
    pair_matching,
)
from backend.stitching.lineage import Lineage, lineage
from backend.stitching.matching import Classification, Matching
from pages.views.state import catalog


@dataclass(frozen=True)
class LogitLens:
    promoted: list[str]
    promoted_logits: list[float]
    suppressed: list[str]
    suppressed_logits: list[float]


@st.cache_resource(max_entries=4, show_spinner="Loading SAE…")
def _sae(release_id: str, sae_id: str, stamp: float | None) -> SAE:
    return load_sae(catalog()[release_id], sae_id).sae


def sae_stamp(release_id: str, sae_id: str) -> float | None:
    """When the SAE's files last changed: part of every cache key that depends on its weights."""
    location = catalog()[release_id].sae(sae_id).location
    return files_stamp(location.path, location.kind)


def sae(release_id: str, sae_id: str) -> SAE:
    """The SAE, reloaded when its files change on disk."""
    return _sae(release_id, sae_id, sae_stamp(release_id, sae_id))


@st.cache_resource(max_entries=8)
def _summary(release_id: str, sae_id: str, stamp: float | None) -> dict[str, pd.DataFrame]:
    return sae_summary(sae(release_id, sae_id), catalog()[release_id], sae_id)


def summary(release_id: str, sae_id: str) -> dict[str, pd.DataFrame]:
    """The overview's configuration and weight tables (decoder norms of every latent: computed once per SAE)."""
    return _summary(release_id, sae_id, sae_stamp(release_id, sae_id))


@st.cache_resource(max_entries=4, show_spinner="Loading the meta-SAE…")
def _meta_sae(release_id: str, meta_id: str, stamp: float | None) -> SAE:
    release = catalog()[release_id]
    return load_meta_sae(release, meta_id, sae(release_id, release.meta(meta_id).over))


def meta_stamp(release_id: str, meta_id: str) -> tuple[float | None, float | None]:
    """When the meta-SAE's files and those of the SAE it decomposes last changed."""
    entry = catalog()[release_id].meta(meta_id)
    return files_stamp(entry.location.path, entry.location.kind), sae_stamp(release_id, entry.over)


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
    """When any file of the index last changed; part of every cache key, so a rebuilt, removed or altered index is
    never served stale (an altered file then fails its checksum instead of showing changed data)."""
    folder = catalog()[release_id].paths.index(sae_id)
    names = (META, EXPLANATIONS, *DATA_FILES)
    stamps = [p.stat().st_mtime for p in (folder / name for name in names) if p.exists()]
    return max(stamps) if stamps else None


@st.cache_resource(max_entries=8)
def _cards(release_id: str, sae_id: str, stamp: float | None) -> CardReader:
    return CardReader(IndexReader(catalog()[release_id].paths.index(sae_id)))


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


@st.cache_resource(max_entries=16)
def _latent_labels(release_id: str, sae_id: str, stamp: float | None) -> tuple[str, ...]:
    return tuple(cards(release_id, sae_id).labels)


def latent_labels(release_id: str, sae_id: str) -> tuple[str, ...] | None:
    """Every latent's label, or None when the SAE has no index (shared, read-only: a card asks for several
    SAEs' labels, and a copy of the table per call was a fifth of its rerun)."""
    try:
        return _latent_labels(release_id, sae_id, index_stamp(release_id, sae_id))
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
        release.meta_saes[0].k if release.meta_saes else None,
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
def _curves(release_id: str, settings: CurveConfig, stamp: float | None) -> pd.DataFrame | None:
    return cached_curves(catalog()[release_id], settings)


def stitching_curves(release_id: str, settings: CurveConfig) -> pd.DataFrame | None:
    return _curves(release_id, settings, _mtime(curves_path(catalog()[release_id], settings)))


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


def stored_predictions(release_id: str, probe: pd.DataFrame, mode: Mode) -> dict[str, pd.DataFrame]:
    release = catalog()[release_id]
    return cached_predictions(release, probe, mode, release.sae_ids)


@st.cache_data(max_entries=32, show_spinner="Reading the word with every SAE…")
def word_probe(release_id: str, word: str, contexts: tuple[str, ...], mode: Mode) -> dict[str, WordProbe]:
    release = catalog()[release_id]
    saes = {sae_id: sae(release_id, sae_id) for sae_id in release.sae_ids}
    return probe_word(language_model(release.model), release, saes, word, list(contexts), mode)


@st.cache_data(max_entries=64)
def _closest_smaller(release_id: str, sae_id: str, latent: int, stamps: tuple) -> dict[str, list[tuple[int, float]]]:
    ids = catalog()[release_id].sae_ids
    smaller = ids[: ids.index(sae_id)]
    row = sae(release_id, sae_id).W_dec[latent]
    return best_matches(row, {other: sae(release_id, other).W_dec for other in smaller})


def closest_in_smaller(release_id: str, sae_id: str, latent: int) -> dict[str, list[tuple[int, float]]]:
    """For each smaller SAE of the family, the latents closest (decoder cosine) to this one."""
    ids = catalog()[release_id].sae_ids
    stamps = tuple(sae_stamp(release_id, other) for other in ids[: ids.index(sae_id) + 1])
    return _closest_smaller(release_id, sae_id, latent, stamps)


@st.cache_data(max_entries=64)
def _meta_logit_lens(release_id: str, meta_id: str, meta_latent: int, n: int, stamp: tuple) -> LogitLens:
    lm = language_model(catalog()[release_id].model)
    lens = logit_lens(meta_sae(release_id, meta_id).W_dec[meta_latent].detach().unsqueeze(0), lm.unembedding(), n)
    return LogitLens(
        promoted=lm.token_strings(lens["pos_idx"][0].tolist()),
        promoted_logits=lens["pos_val"][0].tolist(),
        suppressed=lm.token_strings(lens["neg_idx"][0].tolist()),
        suppressed_logits=lens["neg_val"][0].tolist(),
    )


def meta_logit_lens(release_id: str, meta_id: str, meta_latent: int, n: int = 10) -> LogitLens:
    """The tokens a meta-latent's decoder direction promotes and suppresses most (through the model's unembedding)."""
    return _meta_logit_lens(release_id, meta_id, meta_latent, n, meta_stamp(release_id, meta_id))


@st.cache_data(max_entries=4, show_spinner="Measuring every latent's atomicity…")
def _atomicity(release_id: str, meta_id: str, stamp: tuple[float | None, float | None]) -> pd.DataFrame:
    over = catalog()[release_id].meta(meta_id).over
    return atomicity(decompositions(release_id, meta_id), meta_sae(release_id, meta_id), sae(release_id, over))


def latent_atomicity(release_id: str, meta_id: str) -> pd.DataFrame:
    """Every latent's meta-SAE reconstruction cosine and number of parts (backend/metasae/atomicity.py)."""
    return _atomicity(release_id, meta_id, meta_stamp(release_id, meta_id))


@st.cache_resource(max_entries=2, show_spinner="Matching the decoders of neighbouring sizes…")
def _family_matchings(release_id: str, stamps: tuple) -> list[Matching]:
    release = catalog()[release_id]
    return [pair_matching(release, small, large) for small, large in neighbour_pairs(release)]


def family_lineage(release_id: str, sae_id: str, latent: int, threshold: float) -> Lineage:
    """The latent's lineage from the stored matchings of every neighbouring pair (computed and stored if missing)."""
    release = catalog()[release_id]
    pairs = neighbour_pairs(release)
    stamps = (
        tuple(_mtime(matching_path(release, small, large)) for small, large in pairs),
        tuple(sae_stamp(release_id, other) for other in release.sae_ids),
    )
    return lineage(release.sae_ids, _family_matchings(release_id, stamps), sae_id, latent, threshold)


def latent_steering(release_id: str, sae_id: str, latent: int) -> Direction:
    """Steering along a latent, in units of its largest indexed activation."""
    return latent_direction(sae(release_id, sae_id), latent, card(release_id, sae_id, latent).max)


def meta_steering(release_id: str, meta_id: str, meta_latent: int, threshold: float) -> Direction:
    """Steering along a meta-latent, in units of its member latents' mean largest activation."""
    over = catalog()[release_id].meta(meta_id).over
    members = [latent for latent, _ in decompositions(release_id, meta_id).members(meta_latent, threshold)]
    max_acts = torch.tensor(latent_table(release_id, over)["max"].to_numpy(dtype=np.float32))
    return meta_direction(meta_sae(release_id, meta_id), meta_latent, sae(release_id, over), members, max_acts)


@st.cache_data(max_entries=4, show_spinner="Reading the uploaded pairs…")
def uploaded_pairs(data: bytes) -> pd.DataFrame:
    """An uploaded probe CSV, parsed and checked once per distinct file (not on every rerun)."""
    return parse_probe_csv(data)


@st.cache_data(max_entries=32, show_spinner="Running the model on the text…")
def text_activations(release_id: str, sae_id: str, text: str, stamp: float | None) -> TextActivations:
    """The typed text through the model and the SAE, computed once per (text, SAE files)."""
    release = catalog()[release_id]
    return encode_text(language_model(release.model), sae(release_id, sae_id), release, text)
