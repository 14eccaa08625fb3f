"""The pages' door to stored data: cached reads keyed on the stamps of the artifacts they come from (`keyed`,
backend/core/artifacts.py), so a rebuilt SAE, index or analysis is never served stale. Pages read data only through
here and pages/access/lens_data.py (the canonical-units lenses), and compute through pages/access/actions.py (an
import contract in pyproject.toml says so)."""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from backend.core.errors import AtlasError
from backend.explore.directions import MetaTarget, direction_for
from backend.explore.latent_map import LatentMap, map_table, meta_labels, novelty, top_meta_latents
from backend.explore.meaning import Meaning, meaning
from backend.explore.overview import sae_summary
from backend.explore.paper import FamilySetting, family_differences
from backend.explore.search import TextActivations, encode_text
from backend.index.artifact import LatentIndex
from backend.index.cards import Card, CardReader
from backend.index.store import IndexReader
from backend.metasae.atomicity import atomicity
from backend.metasae.decompose import Decompositions, build_decompositions, reconstruction_cosines
from backend.models.formats import DENSITY_FLOOR, read_metrics
from backend.models.geometry import LogitLens, best_matches, direction_lens
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import load_meta_sae, load_sae, source_key
from backend.models.sae import SAE
from backend.pipeline.artifacts import release_artifacts
from backend.polysemy.bench import cached_predictions
from backend.polysemy.probe import Mode, WordProbe, probe_word
from backend.polysemy.probe_sets import hub_probe_set, parse_probe_csv, wordnet_probe_set
from backend.steering.directions import Direction
from backend.stitching.curves import CurveConfig
from backend.stitching.family import Curves, PairMatching, pair_classification
from backend.stitching.lineage import Lineage, lineage
from backend.stitching.matching import Classification, Matching
from backend.training.metrics import random_nn_cosine_baseline
from pages.access.keyed import keyed, memo_stamp
from pages.access.state import catalog


@memo_stamp
def sae_stamp(release_id: str, sae_id: str) -> str:
    """The SAE's (or meta-SAE's) weights digest: part of every cache key that depends on them."""
    return source_key(catalog()[release_id], sae_id)


@memo_stamp
def meta_stamp(release_id: str, meta_id: str) -> tuple[str, str]:
    """The digests of the meta-SAE's weights and of the SAE it decomposes."""
    return sae_stamp(release_id, meta_id), sae_stamp(release_id, catalog()[release_id].meta(meta_id).over)


@memo_stamp
def index_stamp(release_id: str, sae_id: str) -> tuple[str, str | None]:
    return LatentIndex.served(catalog()[release_id], sae_id).stamp()


@keyed(sae_stamp, resource=True, max_entries=4, show_spinner="Loading SAE…")
def sae(release_id: str, sae_id: str) -> SAE:
    return load_sae(catalog()[release_id], sae_id).sae


@keyed(sae_stamp, resource=True, max_entries=8)
def summary(release_id: str, sae_id: str) -> dict[str, pd.DataFrame]:
    """The overview's configuration and weight tables (decoder norms of every latent: computed once per SAE)."""
    return sae_summary(sae(release_id, sae_id), catalog()[release_id], sae_id)


@keyed(meta_stamp, resource=True, max_entries=4, show_spinner="Loading the meta-SAE…")
def meta_sae(release_id: str, meta_id: str) -> SAE:
    release = catalog()[release_id]
    return load_meta_sae(release, meta_id, sae(release_id, release.meta(meta_id).over))


@keyed(meta_stamp, resource=True, max_entries=4, show_spinner="Decomposing every latent with the meta-SAE…")
def decompositions(release_id: str, meta_id: str) -> Decompositions:
    """Every latent's decomposition, computed once in one batched pass (again if the files change)."""
    return build_decompositions(
        meta_sae(release_id, meta_id), sae(release_id, catalog()[release_id].meta(meta_id).over)
    )


@keyed(meta_stamp, resource=True, max_entries=4)
def _row_cosines(release_id: str, meta_id: str) -> torch.Tensor:
    """`[d_sae]`: how well the meta-SAE reconstructs each latent's decoder row (all at once: one row costs a card
    as much as a few hundred)."""
    over = catalog()[release_id].meta(meta_id).over
    meta, base = meta_sae(release_id, meta_id), sae(release_id, over)
    return reconstruction_cosines(meta, base, torch.arange(base.cfg.d_sae))


def row_cosine(release_id: str, meta_id: str, latent: int) -> float:
    """How well the meta-SAE reconstructs one latent's decoder row."""
    return float(_row_cosines(release_id, meta_id)[latent])


def member_metrics(release_id: str, member_id: str) -> dict[str, float] | None:
    """The metrics a build wrote beside an SAE or meta-SAE (None for releases not built here, and before its build
    writes them). Read each time: one small file, and a member still being built has no weights to key a cache on."""
    release = catalog()[release_id]
    metas = {m.id: m for m in release.meta_saes}
    entry = metas[member_id] if member_id in metas else release.sae(member_id)
    return read_metrics(Path(entry.location.path)) if release.built else None


@keyed(lambda spec: spec, resource=True, max_entries=2, show_spinner="Loading the language model…")
def language_model(spec: str) -> LanguageModel:
    return load_language_model(spec)


@keyed(index_stamp, resource=True, max_entries=8)
def cards(release_id: str, sae_id: str) -> CardReader:
    reader = IndexReader(LatentIndex.served(catalog()[release_id], sae_id).folder)
    reader.meta  # noqa: B018 - checks every file now: a missing or corrupt index says so (StoreError) here
    return CardReader(reader)


# A shared resource (cards are frozen and read only): a copy per call would pickle each new card into the cache.
@keyed(lambda release_id, sae_id, latent: index_stamp(release_id, sae_id), resource=True, max_entries=256)
def card(release_id: str, sae_id: str, latent: int) -> Card:
    return cards(release_id, sae_id).card(latent)


@keyed(lambda release_id, sae_id, with_tokens=False: index_stamp(release_id, sae_id), max_entries=8)
def latent_table(release_id: str, sae_id: str, with_tokens: bool = False) -> pd.DataFrame:
    columns = ["latent", "density", "max", "mean", "label"] + (["top_tokens"] if with_tokens else [])
    return cards(release_id, sae_id).index.table(columns)


@keyed(index_stamp, resource=True, max_entries=16)
def _labels(release_id: str, sae_id: str) -> tuple[str, ...]:
    return tuple(cards(release_id, sae_id).labels)


def latent_labels(release_id: str, sae_id: str) -> tuple[str, ...] | None:
    """Every latent's label, or None when the SAE has no index (shared, read-only: a card asks for several
    SAEs' labels, and a copy of the table per call was a fifth of its rerun)."""
    try:
        return _labels(release_id, sae_id)
    except AtlasError:
        return None


def _names_stamp(release_id: str, meta_id: str) -> tuple:
    return meta_stamp(release_id, meta_id), index_stamp(release_id, catalog()[release_id].meta(meta_id).over)


@keyed(_names_stamp, resource=True, max_entries=4)
def meta_names(release_id: str, meta_id: str) -> dict[int, str] | None:
    """Every meta-latent's label at the meta-SAE's own threshold (shared, read-only), or None when its SAE has no
    index: labelled once per meta-SAE rather than on every rerun of every card and overview that names some."""
    labels = latent_labels(release_id, catalog()[release_id].meta(meta_id).over)
    return meta_labels(decompositions(release_id, meta_id), labels) if labels is not None else None


@keyed(lambda d_sae, d_in: (d_sae, d_in), max_entries=8)
def random_nn_cosine(d_sae: int, d_in: int) -> float:
    """The nearest-neighbour decoder cosine a random dictionary of this shape has (computed once per shape)."""
    return random_nn_cosine_baseline(d_sae, d_in)


def build_artifacts(release_id: str) -> pd.DataFrame:
    """What the release's build makes (the same artifacts publish copies), each with what of it is on disk."""
    rows = []
    for artifact in release_artifacts(catalog()[release_id], complete=False):
        files = artifact.files()
        size = sum(f.stat().st_size for f in files) / 1e6
        rows.append({"artifact": artifact.name, "on disk": "yes" if files else "not yet", "MB": round(size, 1)})
    return pd.DataFrame(rows)


def family_sizes(release_id: str) -> dict[str, int]:
    return {sae_id: sae(release_id, sae_id).cfg.d_sae for sae_id in catalog()[release_id].sae_ids}


def family_differences_of(release_id: str) -> str:
    """How a built family's setting and meta-SAE differ from the paper's, from its stored metrics."""
    release = catalog()[release_id]
    d_model = sae(release_id, release.sae_ids[0]).cfg.d_in
    return family_differences(FamilySetting.of(release, family_sizes(release_id), d_model))


def _pair_stamp(release_id: str, small: str, large: str, *_: object) -> tuple[str, str | None]:
    return _pair_matching_stamp(release_id, small, large)


@memo_stamp
def _pair_matching_stamp(release_id: str, small: str, large: str) -> tuple[str, str | None]:
    return PairMatching(catalog()[release_id], small, large).stamp()


@keyed(_pair_stamp, resource=True, max_entries=16)
def classification(release_id: str, small: str, large: str, threshold: float) -> Classification | None:
    """The pair's novel/reconstruction split from its stored matching; None until it is computed."""
    return pair_classification(catalog()[release_id], small, large, threshold)


@keyed(lambda release_id, settings: Curves(catalog()[release_id], settings).stamp(), max_entries=8)
def stitching_curves(release_id: str, settings: CurveConfig) -> pd.DataFrame | None:
    """The family's curves for these settings; None until they are computed."""
    return Curves(catalog()[release_id], settings).read()


def _map_stamp(release_id: str, sae_id: str, meta_id: str | None, smaller: str | None, _threshold: float) -> tuple:
    release = catalog()[release_id]
    return (
        LatentMap(release, sae_id).stamp(),
        index_stamp(release_id, sae_id),
        meta_stamp(release_id, meta_id) if meta_id else None,
        _pair_stamp(release_id, smaller, sae_id) if smaller else None,
    )


@keyed(_map_stamp, max_entries=4, show_spinner="Preparing the map…")
def map_data(
    release_id: str, sae_id: str, meta_id: str | None, smaller: str | None, threshold: float
) -> pd.DataFrame | None:
    """The latent map with every available colouring; None until the map is computed."""
    coords = LatentMap(catalog()[release_id], sae_id).read()
    if coords is None:
        return None
    labels = latent_labels(release_id, sae_id)
    density = None
    if labels is not None:
        density = np.log10(latent_table(release_id, sae_id)["density"].to_numpy().clip(DENSITY_FLOOR))
    top_meta = names = None
    if meta_id is not None:
        decomps = decompositions(release_id, meta_id)
        top_meta = top_meta_latents(decomps)
        names = meta_names(release_id, meta_id)
    found = classification(release_id, smaller, sae_id, threshold) if smaller else None
    return map_table(coords, labels, density, top_meta, names, novelty(found) if found else None)


@keyed(lambda source: source, max_entries=4, show_spinner="Loading the probe set…")
def probe_pairs(source: str) -> pd.DataFrame:
    """A named probe set: "wordnet" (built offline) or "ps-eval" (from the Hub)."""
    return wordnet_probe_set() if source == "wordnet" else hub_probe_set()


def stored_predictions(release_id: str, probe: pd.DataFrame, mode: Mode) -> dict[str, pd.DataFrame]:
    release = catalog()[release_id]
    return cached_predictions(release, probe, mode, release.sae_ids)


def _family_stamp(release_id: str, *_: object) -> tuple[str, ...]:
    return tuple(sae_stamp(release_id, sae_id) for sae_id in catalog()[release_id].sae_ids)


@keyed(_family_stamp, max_entries=32, show_spinner="Reading the word with every SAE…")
def word_probe(release_id: str, word: str, contexts: tuple[str, ...], mode: Mode) -> dict[str, WordProbe]:
    release = catalog()[release_id]
    saes = {sae_id: sae(release_id, sae_id) for sae_id in release.sae_ids}
    return probe_word(language_model(release.model), release, saes, word, list(contexts), mode)


def _smaller_stamp(release_id: str, sae_id: str, _latent: int) -> tuple[str, ...]:
    ids = catalog()[release_id].sae_ids
    return tuple(sae_stamp(release_id, other) for other in ids[: ids.index(sae_id) + 1])


@keyed(_smaller_stamp, max_entries=64)
def closest_in_smaller(release_id: str, sae_id: str, latent: int) -> dict[str, list[tuple[int, float]]]:
    """For each smaller SAE of the family, the latents closest (decoder cosine) to this one."""
    ids = catalog()[release_id].sae_ids
    row = sae(release_id, sae_id).W_dec[latent]
    return best_matches(row, {other: unit_decoder(release_id, other) for other in ids[: ids.index(sae_id)]})


@keyed(sae_stamp, resource=True, max_entries=8)
def unit_decoder(release_id: str, sae_id: str) -> torch.Tensor:
    """The SAE's unit-norm decoder rows, `[d_sae, d_in]`, normalised once per SAE rather than on every card."""
    return sae(release_id, sae_id).unit_decoder()


@keyed(lambda release_id, meta_id, *_: meta_stamp(release_id, meta_id), max_entries=64)
def meta_logit_lens(release_id: str, meta_id: str, meta_latent: int, n: int = 10) -> LogitLens:
    """The tokens a meta-latent's decoder direction promotes and suppresses most (through the model's unembedding)."""
    lm = language_model(catalog()[release_id].model)
    return direction_lens(meta_sae(release_id, meta_id).W_dec[meta_latent], lm, n)


@keyed(meta_stamp, max_entries=4, show_spinner="Measuring every latent's atomicity…")
def latent_atomicity(release_id: str, meta_id: str) -> pd.DataFrame:
    """Every latent's meta-SAE reconstruction cosine and number of parts (backend/metasae/atomicity.py)."""
    over = catalog()[release_id].meta(meta_id).over
    return atomicity(decompositions(release_id, meta_id), meta_sae(release_id, meta_id), sae(release_id, over))


def _meaning_stamp(release_id: str, sae_id: str, meta_id: str) -> tuple:
    return index_stamp(release_id, sae_id), meta_stamp(release_id, meta_id)


@keyed(_meaning_stamp, resource=True, max_entries=4, show_spinner="Reading what the decompositions mean…")
def decomposition_meaning(release_id: str, sae_id: str, meta_id: str) -> Meaning:
    """What the meta-SAE's decompositions of this SAE mean (backend/explore/meaning.py)."""
    index = cards(release_id, sae_id).index
    return meaning(index, decompositions(release_id, meta_id), meta_sae(release_id, meta_id), sae(release_id, sae_id))


@memo_stamp
def _matchings_stamp(release_id: str) -> tuple:
    release = catalog()[release_id]
    return tuple(_pair_stamp(release_id, small, large) for small, large in release.neighbour_pairs)


@keyed(_matchings_stamp, resource=True, max_entries=2, show_spinner="Matching the decoders of neighbouring sizes…")
def _family_matchings(release_id: str) -> list[Matching]:
    release = catalog()[release_id]
    return [PairMatching(release, small, large).get() for small, large in release.neighbour_pairs]


def family_lineage(release_id: str, sae_id: str, latent: int, threshold: float) -> Lineage:
    """The latent's lineage from the stored matchings of every neighbouring pair (computed and stored if missing)."""
    release = catalog()[release_id]
    return lineage(release.sae_ids, _family_matchings(release_id), sae_id, latent, threshold)


def _max_acts(release_id: str, sae_id: str) -> torch.Tensor:
    return torch.tensor(latent_table(release_id, sae_id)["max"].to_numpy(dtype=np.float32))


def latent_steering(release_id: str, sae_id: str, latent: int) -> Direction:
    """Steering along a latent, in units of its largest indexed activation."""
    return direction_for(sae(release_id, sae_id), _max_acts(release_id, sae_id), latent)


def meta_steering(release_id: str, meta_id: str, meta_latent: int, threshold: float) -> Direction:
    """Steering along a meta-latent, in units of its member latents' mean largest activation."""
    over = catalog()[release_id].meta(meta_id).over
    target = MetaTarget(meta_sae(release_id, meta_id), decompositions(release_id, meta_id), meta_latent, threshold)
    return direction_for(sae(release_id, over), _max_acts(release_id, over), target)


@keyed(lambda data: "", max_entries=4, show_spinner="Reading the uploaded pairs…")
def uploaded_pairs(data: bytes) -> pd.DataFrame:
    """An uploaded probe CSV, parsed and checked once per distinct file (not on every rerun)."""
    return parse_probe_csv(data)


@keyed(
    lambda release_id, sae_id, text: sae_stamp(release_id, sae_id), max_entries=32, show_spinner="Running the model…"
)
def text_activations(release_id: str, sae_id: str, text: str) -> TextActivations:
    """The typed text through the model and the SAE, computed once per (text, SAE weights)."""
    release = catalog()[release_id]
    return encode_text(language_model(release.model), sae(release_id, sae_id), release, text)
