"""Held-out activations of a release: what stitching curves and their model-loss checks are measured on.

A built release uses the last contexts of its own corpus, which training never saw; any other
release packs contexts from its corpus with a seed of its own. Activations are cached on disk.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from backend.activation_cache import cached_activations, norm_cap
from backend.catalog import Release
from backend.corpus import corpus_texts, pack_contexts
from backend.errors import AtlasError
from backend.models import LanguageModel

HELDOUT_CONTEXTS = 128
HELDOUT_SEED = 1
CALIBRATION_CONTEXTS = 16


@dataclass
class HeldOut:
    tokens: Tensor  # [n_ctx, seq] int64
    acts: Tensor  # [n_ctx, seq, d] float16, in the release's convention
    keep: Tensor  # [n_ctx, seq] bool: the positions SAEs are meant for (no BOS, under the norm cap)
    cap: float | None

    @property
    def vectors(self) -> Tensor:
        """`[n, d]` float32 activations at the kept positions."""
        return self.acts[self.keep].float()


def _built_tokens(release: Release, n_contexts: int) -> tuple[Tensor, float | None]:
    from backend.build import PROFILES

    summary_path, corpus_path = release.root / "build.json", release.root / "corpus.npy"
    if not summary_path.exists() or not corpus_path.exists():
        raise AtlasError(f"Release {release.id!r} is not built yet: run `python -m backend build` first.")
    summary = json.loads(summary_path.read_text())
    eval_contexts = PROFILES[summary["profile"]].eval_contexts
    tokens = torch.from_numpy(np.load(corpus_path)).long()
    return tokens[-min(n_contexts, eval_contexts) :], summary.get("norm_cap")


def heldout(
    release: Release,
    lm: LanguageModel,
    n_contexts: int = HELDOUT_CONTEXTS,
    progress: Callable[[int, int], None] | None = None,
) -> HeldOut:
    """`n_contexts` held-out contexts of `release` (fewer if a built release held out fewer)."""
    if release.built:
        tokens, cap = _built_tokens(release, n_contexts)
    else:
        tokens = pack_contexts(
            corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, n_contexts, HELDOUT_SEED
        )
        cap = None
    folder = release.root / "work" / f"heldout-{len(tokens)}"
    acts = cached_activations(
        lm, tokens, release.hook, release.convention, folder, autocast=lm.device.type == "cpu", progress=progress
    )
    if not release.built:
        cap = norm_cap(
            acts[:CALIBRATION_CONTEXTS], tokens[:CALIBRATION_CONTEXTS], lm.bos_id, release.outlier_norm_multiple
        )
    return held_out_from(tokens, acts, lm.bos_id, cap)


def held_out_from(tokens: Tensor, acts: Tensor, bos_id: int, cap: float | None) -> HeldOut:
    """Wrap activations already computed (`tokens [n_ctx, seq]`, `acts [n_ctx, seq, d]`)."""
    keep = tokens != bos_id
    if cap is not None:
        keep &= acts.float().norm(dim=-1) <= cap
    return HeldOut(tokens=tokens, acts=acts, keep=keep, cap=cap)
