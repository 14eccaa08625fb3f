"""Index any catalog SAE over its release's corpus, running the model batch by batch."""

from pathlib import Path

import torch

from backend.activation_cache import norm_cap
from backend.build import index_key
from backend.catalog import Release
from backend.config import default_device
from backend.corpus import corpus_texts, pack_contexts
from backend.index import IndexConfig, build_index
from backend.loading import load_sae
from backend.models import load_language_model

CALIBRATION_CONTEXTS = 16
"""Contexts whose median activation norm sets the outlier cap when a release asks for one."""


def index_release_sae(release: Release, sae_id: str, n_contexts: int, seed: int = 0) -> Path:
    device = default_device()
    lm = load_language_model(release.model, device)
    sae = load_sae(release, sae_id, device).sae
    tokens = pack_contexts(
        corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, n_contexts, seed
    )
    calibration = tokens[:CALIBRATION_CONTEXTS]
    cap = norm_cap(
        lm.activations(calibration, release.hook, release.convention),
        calibration,
        lm.bos_id,
        release.outlier_norm_multiple,
    )

    def activations(_start: int, batch: torch.Tensor) -> torch.Tensor:
        return lm.activations(batch, release.hook, release.convention, autocast=device.type == "cpu")

    from tqdm.auto import tqdm

    bar = tqdm(desc=f"index {release.id}/{sae_id}", unit="batch")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return build_index(
        sae,
        tokens,
        activations,
        IndexConfig(norm_cap=cap, bos_id=lm.bos_id),
        release.root / "index" / sae_id,
        key=index_key(release, sae_id, len(tokens), cap),
        vocab=lm.vocab_strings(),
        unembed=lm.unembedding(),
        progress=progress,
    )
