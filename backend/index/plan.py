"""What one index build needs, however it is run (one process, or shards on a cluster): `IndexPlan`."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from backend.index.state import TOP_K
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.sources.release import Release

ActivationFn = Callable[[int, Tensor], Tensor]
"""(index of the batch's first context, token ids `[batch, seq]`) -> activations `[batch, seq, d_in]`."""
Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class IndexConfig:
    batch_contexts: int = 32
    checkpoint_every: int = 20
    """Batches between checkpoints."""
    norm_cap: float | None = None
    """Tokens whose activation norm exceeds this are left out (massive-activation tokens)."""
    bos_id: int | None = None
    """Positions holding this token are left out (BOS carries no text)."""
    positions: tuple[int, int | None] | None = None
    """Only positions `start:stop` of each context count (Python slice bounds, e.g. (6, -6) as SAEDashboard's
    buffer); None = all."""
    top_k: int = TOP_K
    """Top examples kept per latent."""


@dataclass(frozen=True)
class IndexWorker:
    """How any process (this one, or a Ray worker) gets the SAE and the activations an index is computed
    from: picklable, so a worker loads its own copy of the model and SAE."""

    release: Release
    sae_id: str
    precision: Precision

    def load(self, device: torch.device) -> tuple[SAE, ActivationFn]:
        lm = load_language_model(self.release.model, device)
        return load_sae(self.release, self.sae_id, device).sae, self.activations(lm)

    def activations(self, lm: LanguageModel) -> ActivationFn:
        def read(_start: int, batch: torch.Tensor) -> torch.Tensor:
            return lm.activations(batch, self.release.hook, self.release.convention, self.precision == "bf16")

        return read


@dataclass(frozen=True)
class IndexPlan:
    """One index: the SAE over `tokens`, with `activations` giving each batch's inputs, into `folder`."""

    sae: SAE
    tokens: Tensor
    """`[contexts, seq]` token ids."""
    activations: ActivationFn
    cfg: IndexConfig
    folder: Path
    key: dict[str, Any]
    """What the index is made from; an index with another key is rebuilt, never reused."""
    vocab: list[str]
    unembed: Tensor | None
    """`[d_model, vocab]` for the logit lens (None: no logit lens)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Recorded in the index's metadata besides the key."""
    worker: IndexWorker | None = None
    """How a cluster's workers load the SAE and the model (None: this process only)."""
