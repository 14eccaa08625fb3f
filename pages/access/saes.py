"""The pages' cached reads of a release's members: its SAEs and meta-SAEs (weights, decompositions, atomicity), the
language model, and what the build made of them. Each read is valid while the stamps it read are unchanged
(pages/access/keyed.py, pages/access/stamps.py)."""

from pathlib import Path

import pandas as pd
import torch

from backend.explore.overview import sae_summary
from backend.explore.paper import FamilySetting, family_differences
from backend.metasae.atomicity import atomicity
from backend.metasae.decompose import Decompositions, build_decompositions, reconstruction_cosines
from backend.models.formats import read_metrics
from backend.models.geometry import LogitLens, direction_lens
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import decoder_rows, load_meta_sae, load_sae
from backend.models.sae import SAE
from backend.pipeline.artifacts import release_artifacts
from backend.training.metrics import random_nn_cosine_baseline
from pages.access import stamps
from pages.access.keyed import cached
from pages.access.stamps import release


@cached(stamps.weights, shared=True, max_entries=4, spinner="Loading SAE…")
def sae(release_id: str, sae_id: str) -> SAE:
    return load_sae(release(release_id), sae_id).sae


@cached(shared=True, max_entries=8)
def summary(release_id: str, sae_id: str) -> dict[str, pd.DataFrame]:
    """The overview's configuration and weight tables (decoder norms of every latent: computed once per SAE)."""
    return sae_summary(sae(release_id, sae_id), release(release_id), sae_id)


def _over(release_id: str, meta_id: str) -> str:
    """The SAE a meta-SAE decomposes."""
    return release(release_id).meta(meta_id).over


@cached(stamps.weights, shared=True, max_entries=4, spinner="Loading the meta-SAE…")
def meta_sae(release_id: str, meta_id: str) -> SAE:
    return load_meta_sae(release(release_id), meta_id, sae(release_id, _over(release_id, meta_id)))


@cached(shared=True, max_entries=4, spinner="Decomposing every latent with the meta-SAE…")
def decompositions(release_id: str, meta_id: str) -> Decompositions:
    """Every latent's decomposition, computed once in one batched pass (again if the files change)."""
    return build_decompositions(meta_sae(release_id, meta_id), sae(release_id, _over(release_id, meta_id)))


@cached(shared=True, max_entries=4)
def _row_cosines(release_id: str, meta_id: str) -> torch.Tensor:
    """`[d_sae]`: how well the meta-SAE reconstructs each latent's decoder row (all at once: one row costs a card
    as much as a few hundred)."""
    meta, base = meta_sae(release_id, meta_id), sae(release_id, _over(release_id, meta_id))
    return reconstruction_cosines(meta, base, torch.arange(base.cfg.d_sae))


def row_cosine(release_id: str, meta_id: str, latent: int) -> float:
    """How well the meta-SAE reconstructs one latent's decoder row."""
    return float(_row_cosines(release_id, meta_id)[latent])


@cached(max_entries=4, spinner="Measuring every latent's atomicity…")
def latent_atomicity(release_id: str, meta_id: str) -> pd.DataFrame:
    """Every latent's meta-SAE reconstruction cosine and number of parts (backend/metasae/atomicity.py)."""
    base = sae(release_id, _over(release_id, meta_id))
    return atomicity(decompositions(release_id, meta_id), meta_sae(release_id, meta_id), base)


@cached(stamps.weights, shared=True, max_entries=16)
def decoder(release_id: str, sae_id: str) -> torch.Tensor:
    """The SAE's decoder rows, `[d_sae, d_in]`, mapped from its weights file: a card compares its latent with every
    smaller SAE's decoder without this process holding any of them (backend/models/headers.py: mapped_decoder)."""
    return decoder_rows(release(release_id), sae_id)


def member_metrics(release_id: str, member_id: str) -> dict[str, float] | None:
    """The metrics a build wrote beside an SAE or meta-SAE (None for releases not built here, and before its build
    writes them). Read each time: one small file, and a member still being built has no weights to key a cache on."""
    entry = release(release_id)
    metas = {m.id: m for m in entry.meta_saes}
    member = metas[member_id] if member_id in metas else entry.sae(member_id)
    return read_metrics(Path(member.location.path), member.prefix) if entry.built else None


@cached(shared=True, max_entries=2, spinner="Loading the language model…")
def language_model(spec: str) -> LanguageModel:
    return load_language_model(spec)


@cached(max_entries=1024)  # a few KB each: every meta-latent of a meta-SAE a visitor browses at random
def meta_logit_lens(release_id: str, meta_id: str, meta_latent: int, n: int = 10) -> LogitLens:
    """The tokens a meta-latent's decoder direction promotes and suppresses most (through the model's unembedding)."""
    lm = language_model(release(release_id).model)
    return direction_lens(meta_sae(release_id, meta_id).W_dec[meta_latent], lm, n)


@cached(max_entries=8)
def random_nn_cosine(d_sae: int, d_in: int) -> float:
    """The nearest-neighbour decoder cosine a random dictionary of this shape has (computed once per shape)."""
    return random_nn_cosine_baseline(d_sae, d_in)


def family_sizes(release_id: str) -> dict[str, int]:
    return {sae_id: sae(release_id, sae_id).cfg.d_sae for sae_id in release(release_id).sae_ids}


def family_differences_of(release_id: str) -> str:
    """How a built family's setting and meta-SAE differ from the paper's, from its stored metrics."""
    entry = release(release_id)
    d_model = sae(release_id, entry.sae_ids[0]).cfg.d_in
    return family_differences(FamilySetting.of(entry, family_sizes(release_id), d_model))


def build_artifacts(release_id: str) -> pd.DataFrame:
    """What the release's build makes (the same artifacts publish copies), each with what of it is on disk."""
    rows = []
    for artifact in release_artifacts(release(release_id), complete=False):
        size = sum(f.stat().st_size for f in artifact.files()) / 1e6
        rows.append(
            {"artifact": artifact.name, "on disk": "yes" if artifact.finished() else "not yet", "MB": round(size, 1)}
        )
    return pd.DataFrame(rows)
