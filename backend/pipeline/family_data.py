"""A built release's data, as the build's stages read it: the corpus contexts (an artifact), their activations
(an artifact, backend/data/activations.py), the norm cap and the train / held-out split."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from backend.core.artifacts import Artifact, canonical
from backend.core.config import default_device, fast_bf16
from backend.core.errors import AtlasError
from backend.core.files import atomic_path, write_json_atomic
from backend.core.progress import Reporter, silent
from backend.data.activations import Activations, norm_cap, token_vectors
from backend.data.corpus import corpus_texts, pack_contexts
from backend.data.heldout import Split, write_split
from backend.models.language import LanguageModel
from backend.pipeline.profiles import BuildConfig
from backend.sources.release import Release


@dataclass
class FamilyData:
    """A built release's corpus and activations, split the way every stage reads them."""

    tokens: Tensor  # [n_contexts, seq] int64, BOS first
    acts: Tensor  # [n_contexts, seq, d_model] float16
    cap: float | None
    """Norm cap: tokens above it are massive-activation outliers, left out everywhere."""
    n_train: int
    """The first `n_train` contexts are for training; the rest are held out."""
    train_x: Tensor  # [n_train_tokens, d_model]
    eval_x: Tensor  # [n_eval_tokens, d_model]
    key: str
    """What the data was made from (`data_key`)."""


def corpus_key(release: Release, settings: BuildConfig) -> dict[str, Any]:
    """What the corpus contexts are made from."""
    return {
        "corpus": release.corpus.key(),
        "context_size": release.context_size,
        "contexts": settings.n_contexts,
        "seed": settings.seed,
        "model": release.model,
    }


def data_key(release: Release, settings: BuildConfig) -> str:
    """What the training and held-out activations are made from: a changed profile, corpus or hook changes it."""
    return json.dumps(
        {
            "corpus": corpus_key(release, settings),
            "hook": release.hook,
            "convention": release.convention,
            "eval_contexts": settings.eval_contexts,
            "outlier_norm_multiple": release.outlier_norm_multiple,
            "autocast": fast_bf16(default_device()),
        },
        sort_keys=True,
    )


class Corpus(Artifact[Tensor]):
    """`[n_contexts, context_size]` token contexts packed from the release's corpus, at `ReleasePaths.corpus`
    with their key in `ReleasePaths.corpus_record`. Machine-local: a deployment never reads it."""

    published = False

    def __init__(self, release: Release, settings: BuildConfig, lm: Callable[[], LanguageModel]) -> None:
        self.release, self.settings, self._lm = release, settings, lm

    @property
    def name(self) -> str:
        return "corpus"

    def files(self) -> list[Path]:
        paths = self.release.paths
        return [p for p in (paths.corpus, paths.corpus_record) if p.exists()]

    def key(self) -> str:
        return canonical(corpus_key(self.release, self.settings))

    def stored_key(self) -> str | None:
        """The recorded key; a corpus from before it was recorded counts as current when its shape is this one's."""
        paths = self.release.paths
        if not paths.corpus.exists():
            return None
        try:
            return canonical(json.loads(paths.corpus_record.read_text(encoding="utf-8")))
        except FileNotFoundError:
            shape = np.load(paths.corpus, mmap_mode="r").shape
            return self.key() if shape == (self.settings.n_contexts, self.release.context_size) else "legacy"
        except (OSError, ValueError):
            return None

    def load(self) -> Tensor | None:
        try:
            tokens = torch.from_numpy(np.load(self.release.paths.corpus)).long()
        except (OSError, ValueError):
            return None
        write_json_atomic(self.release.paths.corpus_record, corpus_key(self.release, self.settings))
        return tokens

    def compute(self, report: Reporter = silent) -> Tensor:
        lm, release = self._lm(), self.release
        tokens = pack_contexts(
            corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, self.settings.n_contexts,
            self.settings.seed,
        )  # fmt: skip
        with atomic_path(release.paths.corpus) as tmp, tmp.open("wb") as handle:
            np.save(handle, tokens.numpy().astype(np.int32))
        write_json_atomic(release.paths.corpus_record, corpus_key(release, self.settings))
        return tokens


def family_data(release: Release, lm: LanguageModel, settings: BuildConfig, report: Reporter) -> FamilyData:
    """Corpus -> activations (resumable) -> norm cap -> train and held-out token vectors."""
    tokens = Corpus(release, settings, lambda: lm).get(report)
    activations = Activations(
        release.paths.activations, tokens, lm.name, release.hook, release.convention, fast_bf16(lm.device), lambda: lm
    )
    acts = activations.get(report)
    n_train = len(tokens) - settings.eval_contexts
    if n_train <= 0 or len(tokens) < settings.index_contexts:
        raise AtlasError(
            f"The corpus has {len(tokens)} contexts; this profile holds out {settings.eval_contexts} and indexes "
            f"{settings.index_contexts}. Use a larger corpus or a smaller profile."
        )
    cap = norm_cap(acts[:n_train], tokens[:n_train], lm.bos_id, release.outlier_norm_multiple)
    if cap is not None and not (math.isfinite(cap) and cap > 0):
        raise AtlasError(
            f"The activations' norm cap came out {cap}: the activations are corrupt; delete the release's work "
            "folder and build again."
        )
    train_x = token_vectors(acts[:n_train], tokens[:n_train], lm.bos_id, cap)
    eval_x = token_vectors(acts[n_train:], tokens[n_train:], lm.bos_id, cap)
    if not len(train_x) or not len(eval_x):
        raise AtlasError("No training or held-out tokens are left after the norm cap: the corpus is too small.")
    write_split(release, Split(n_train, cap))
    return FamilyData(tokens, acts, cap, n_train, train_x, eval_x, data_key(release, settings))
