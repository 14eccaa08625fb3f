"""The pages' cached reads of a release's indexes: latent cards and tables, labels (meta-latents' too), what the
decompositions mean, steering directions scaled by indexed activations, and a typed text read by an SAE."""

import contextlib

import numpy as np
import pandas as pd
import torch

from backend.core.errors import AtlasError
from backend.explore.directions import MetaTarget, direction_for
from backend.explore.latent_map import meta_labels
from backend.explore.meaning import Meaning, meaning
from backend.explore.search import TextActivations, encode_text, search_table
from backend.index.artifact import LatentIndex
from backend.index.cards import Card, CardReader
from backend.steering.directions import Direction
from pages.access import stamps
from pages.access.keyed import cached
from pages.access.saes import decompositions, language_model, meta_sae, sae
from pages.access.stamps import release


@cached(stamps.index, shared=True, max_entries=8)
def cards(release_id: str, sae_id: str) -> CardReader:
    """The SAE's index, opened (every file checked: a missing or corrupt index says so here, as a StoreError)."""
    return CardReader(LatentIndex.served(release(release_id), sae_id).reader())


# A shared resource (cards are frozen and read only): a copy per call would pickle each new card into the cache.
@cached(shared=True, max_entries=256)
def card(release_id: str, sae_id: str, latent: int) -> Card:
    return cards(release_id, sae_id).card(latent)


@cached(max_entries=8)
def latent_table(release_id: str, sae_id: str, with_tokens: bool = False) -> pd.DataFrame:
    columns = ["latent", "density", "max", "mean", "label"] + (["top_tokens"] if with_tokens else [])
    return cards(release_id, sae_id).index.table(columns)


@cached(shared=True, max_entries=256)
def label_search(release_id: str, sae_id: str, query: str) -> pd.DataFrame:
    """The latents whose label or top tokens contain `query`, best first (shared, read-only: a query's rerun, or
    another visitor's same query, does not copy and scan the whole table again)."""
    return search_table(latent_table(release_id, sae_id, with_tokens=True), query)


@cached(shared=True, max_entries=16)
def _labels(release_id: str, sae_id: str) -> tuple[str, ...]:
    return tuple(cards(release_id, sae_id).labels)


def latent_labels(release_id: str, sae_id: str) -> tuple[str, ...] | None:
    """Every latent's label, or None when the SAE has no index (shared, read-only: a card asks for several
    SAEs' labels, and a copy of the table per call was a fifth of its rerun)."""
    try:
        return _labels(release_id, sae_id)
    except AtlasError:
        return None


@cached(shared=True, max_entries=4)
def meta_names(release_id: str, meta_id: str) -> dict[int, str] | None:
    """Every meta-latent's label at the meta-SAE's own threshold (shared, read-only), or None when its SAE has no
    index: labelled once per meta-SAE rather than on every rerun of every card and overview that names some."""
    labels = latent_labels(release_id, release(release_id).meta(meta_id).over)
    return meta_labels(decompositions(release_id, meta_id), labels) if labels is not None else None


MEANINGS_KEPT = 4
"""Meta-SAEs whose meanings a server process keeps at once."""


@cached(shared=True, max_entries=MEANINGS_KEPT, spinner="Reading what the decompositions mean…")
def decomposition_meaning(release_id: str, sae_id: str, meta_id: str) -> Meaning:
    """What the meta-SAE's decompositions of this SAE mean (backend/explore/meaning.py)."""
    index = cards(release_id, sae_id).index
    return meaning(index, decompositions(release_id, meta_id), meta_sae(release_id, meta_id), sae(release_id, sae_id))


def warm_meanings(release_id: str) -> None:
    """What each meta-SAE of a release built on this machine means (`decomposition_meaning`, 1-2 s each on 2 cores),
    which the first view of the overview or of the Canonical page's family comparison would wait for: a server's
    warm-up. Only built releases (never a download), no more than the cache keeps, and none still being built."""
    entry = release(release_id)
    if not entry.built:
        return
    for meta in entry.meta_saes[:MEANINGS_KEPT]:
        with contextlib.suppress(AtlasError):
            decomposition_meaning(release_id, meta.over, meta.id)


def _max_acts(release_id: str, sae_id: str) -> torch.Tensor:
    return torch.tensor(latent_table(release_id, sae_id)["max"].to_numpy(dtype=np.float32))


def latent_steering(release_id: str, sae_id: str, latent: int) -> Direction:
    """Steering along a latent, in units of its largest indexed activation."""
    return direction_for(sae(release_id, sae_id), _max_acts(release_id, sae_id), latent)


def meta_steering(release_id: str, meta_id: str, meta_latent: int, threshold: float) -> Direction:
    """Steering along a meta-latent, in units of its member latents' mean largest activation."""
    over = release(release_id).meta(meta_id).over
    target = MetaTarget(meta_sae(release_id, meta_id), decompositions(release_id, meta_id), meta_latent, threshold)
    return direction_for(sae(release_id, over), _max_acts(release_id, over), target)


@cached(max_entries=32, spinner="Running the model…")
def text_activations(release_id: str, sae_id: str, text: str) -> TextActivations:
    """The typed text through the model and the SAE, computed once per (text, SAE weights)."""
    entry = release(release_id)
    return encode_text(language_model(entry.model), sae(release_id, sae_id), entry, text)
