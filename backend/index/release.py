"""Index any catalog SAE over its release's corpus, running the model batch by batch."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from backend.core.config import default_device
from backend.core.progress import TqdmReporter, step_progress
from backend.data.activations import CALIBRATION_CONTEXTS, norm_cap
from backend.data.corpus import corpus_texts, pack_contexts
from backend.index.build import IndexConfig, build_index
from backend.index.finalise import LABEL_TOKENS, LOGIT_LENS, NEIGHBOURS
from backend.index.state import N_INTERVALS, RESERVOIR, TOP_K, WINDOW
from backend.index.store import VERSION
from backend.models.language import load_language_model
from backend.models.loading import load_sae
from backend.sources.catalog import Release


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

    progress = step_progress(TqdmReporter(unit="batch"), f"index {release.id}/{sae_id}")
    return build_index(
        sae,
        tokens,
        activations,
        IndexConfig(norm_cap=cap, bos_id=lm.bos_id),
        release.paths.index(sae_id),
        key=index_key(release, sae_id, sae.digest(), len(tokens), cap),
        vocab=lm.vocab_strings(),
        unembed=lm.unembedding(),
        progress=progress,
    )


INDEX_FORMAT = {
    "version": VERSION,
    "top_k": TOP_K,
    "reservoir": RESERVOIR,
    "intervals": N_INTERVALS,
    "window": WINDOW,
    "neighbours": NEIGHBOURS,
    "logit_lens": LOGIT_LENS,
    "label_tokens": LABEL_TOKENS,
}
"""What each index holds per latent; part of every index key, so changing any of these rebuilds."""


def index_key(release: Release, sae_id: str, weights: str, n_contexts: int, cap: float | None) -> dict[str, Any]:
    """What an index was produced from (`weights`: the SAE's digest); an index with another key is rebuilt,
    never reused, so a retrained SAE never shows its predecessor's cards."""
    return {
        "release": release.id,
        "sae": sae_id,
        "weights": weights,
        "model": release.model,
        "hook": release.hook,
        "convention": release.convention,
        "corpus": asdict(release.corpus),
        "contexts": n_contexts,
        "norm_cap": cap,
        "format": INDEX_FORMAT,
    }
