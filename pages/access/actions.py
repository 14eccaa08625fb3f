"""The pages' one door to computing: each control that makes an artifact (or registers a meta-SAE, or imports
labels) calls one function here, with a progress reporter; the read modules then read what was made. Each
says, when done, that stored data changed (`stamps_changed`), so the rerun that follows reads it."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from backend.core.progress import Reporter, step_progress
from backend.explore.latent_map import LatentMap
from backend.polysemy.bench import predictions
from backend.polysemy.probe import Mode
from backend.sources.catalog import download_published
from backend.sources.neuronpedia import import_explanations
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching
from backend.training.meta import MetaTrainConfig, train_meta_for
from backend.web.budget import VISITOR_SECONDS_ENV, meta_cost, probe_set_cost
from pages.access.keyed import stamps_changed
from pages.access.saes import language_model, sae
from pages.access.state import catalog, refresh_catalog

P = ParamSpec("P")
R = TypeVar("R")


def writes(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, then `stamps_changed()`, even when it fails part-way (what it wrote before failing is stored)."""

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            stamps_changed()

    return wrapped


@st.cache_resource(max_entries=8, show_spinner="Downloading the published release…")
def fetch_published(release_id: str) -> None:
    """A published release's repo in the Hub cache, fetched once per server process (a no-op when cached)."""
    download_published(catalog()[release_id])


@writes
def compute_matchings(release_id: str, report: Reporter) -> None:
    """Every neighbouring pair's decoder matching (stored pairs are kept)."""
    release = catalog()[release_id]
    pairs = release.neighbour_pairs
    for number, (small, large) in enumerate(pairs):
        report("matching decoders", number, len(pairs))
        PairMatching(release, small, large).get()


@writes
def compute_curves(release_id: str, settings: CurveConfig, report: Reporter) -> None:
    release = catalog()[release_id]
    Curves(release, settings, lm=lambda: language_model(release.model)).get(report)


@writes
def compute_map(release_id: str, sae_id: str, report: Reporter) -> None:
    LatentMap(catalog()[release_id], sae_id).get(report)


@writes
def run_benchmark(release_id: str, probe: pd.DataFrame, mode: Mode, report: Reporter) -> None:
    """PS-Eval on every SAE of the family (SAEs already probed with this set are read back), within a visitor's
    bound (backend/web/budget.py)."""
    release = catalog()[release_id]
    probe_set_cost(probe).check(f"run the app on your own machine with {VISITOR_SECONDS_ENV}=0 (no bound)")
    predictions(release, probe, mode, release.sae_ids, lambda: language_model(release.model), report)


@writes
def train_meta(release_id: str, sae_id: str, cfg: MetaTrainConfig, report: Reporter) -> str:
    """Train a meta-SAE on the SAE's decoder rows and register it, within a visitor's bound; returns its id."""
    base = sae(release_id, sae_id).cfg
    meta_cost(cfg.epochs, base.d_sae, cfg.d_meta, base.d_in).check(
        f"train it with `python -m backend train-meta --release {release_id} --sae {sae_id} --d-meta {cfg.d_meta} "
        f"--epochs {cfg.epochs:g}`"
    )
    meta_id = train_meta_for(catalog()[release_id], sae_id, cfg, step_progress(report, "Training the meta-SAE"))
    refresh_catalog()
    return meta_id


@writes
def import_labels(release_id: str, sae_id: str) -> int:
    """Neuronpedia's explanations of the SAE, stored beside its index; returns how many."""
    release = catalog()[release_id]
    neuronpedia_id = release.sae(sae_id).neuronpedia_id
    assert neuronpedia_id is not None
    return import_explanations(neuronpedia_id, release.paths.index(sae_id))
