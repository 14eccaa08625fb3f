"""Where the canonical-units lenses get their activations (`LensSource`) and what they read of them (`LensData`): a
release built here reads its own corpus's activations; any other release runs its first index's contexts through the
model once; a published release's lenses are served as published (no activations are published)."""

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from backend.core.artifacts import canonical
from backend.core.config import fast_bf16
from backend.core.errors import AtlasError
from backend.data.activations import CALIBRATION_CONTEXTS, Activations, kept_positions, norm_cap
from backend.index.artifact import LatentIndex
from backend.models.language import LanguageModel
from backend.sources.release import Release

T = TypeVar("T")


@dataclass
class LensData:
    """The activations the lenses read: contexts `tokens [n_ctx, seq]`, `acts [n_ctx, seq, d]`, the positions SAEs
    are meant for `keep [n_ctx, seq]`, which contexts are held out from training, and the vocabulary."""

    tokens: Tensor
    acts: Tensor
    keep: Tensor
    held_out: slice
    vocab: list[str]

    _derived: dict[str, Any] = field(default_factory=dict, repr=False)

    def derived(self, name: str, make: Callable[[], T]) -> T:
        """What a lens computes from these activations once and reads again (absorption's word tokens)."""
        if name not in self._derived:
            self._derived[name] = make()
        return self._derived[name]

    @cached_property
    def held_out_vectors(self) -> Tensor:
        return self.acts[self.held_out][self.keep[self.held_out]].float()


class LensSource:
    """Where a lens gets its activations: `data()` loads them once; `key` names them without loading them. A
    deployment serving a published release has neither (no activations are published): `served()` trusts what the
    stored lens says it was made from, as a served index does, while the weights it names are still checked."""

    def __init__(self, key: Callable[[], str] | None, data: Callable[[], LensData]) -> None:
        self._key, self._data = key, data
        self._loaded: LensData | None = None
        self._known: str | None = None
        self._loading = threading.Lock()

    @classmethod
    def served(cls) -> "LensSource":
        def nothing() -> LensData:
            raise AtlasError(
                "A published release's lenses are served as published; they are computed where it is built."
            )

        return cls(None, nothing)

    def data_key(self, stored: str | None) -> str:
        """The `data` part of a lens's key; for a served source, the one its stored copy records."""
        if self._key is None:
            recorded = json.loads(stored).get("data") if stored else None
            return recorded if isinstance(recorded, str) else ""
        if self._known is None:
            self._known = self._key()
        return self._known

    def __call__(self) -> LensData:
        with self._loading:  # a build's two lanes may both ask first (backend/pipeline/lanes.py)
            if self._loaded is None:
                self._loaded = self._data()
            return self._loaded


def contexts_key(release: Release, tokens: Tensor) -> str:
    """What lens activations are made from: the contexts `tokens [n_ctx, seq]` at the release's model, hook and
    convention. The same on the machine that built a release and on a deployment reading its published copy."""
    digest = hashlib.sha256(tokens.long().numpy().tobytes()).hexdigest()
    return canonical({"tokens": digest, "model": release.model, "hook": release.hook, "convention": release.convention})


def built_source(release: Release, data: Callable[[], LensData]) -> LensSource:
    """The lens activations of a release built here: its whole corpus (`data` loads it with its activations)."""

    def key() -> str:
        try:
            tokens = np.load(release.paths.corpus)
        except OSError as err:
            raise AtlasError(f"Release {release.id!r} has no corpus yet: its build has not started.") from err
        return contexts_key(release, torch.from_numpy(tokens))

    return LensSource(key, data)


def release_source(release: Release, lm: Callable[[], LanguageModel]) -> LensSource:
    """The lens activations of a release not built here: the contexts of its first SAE's index (so facets read the
    same tokens as the cards; for a published built release, its corpus), run through the model once and cached
    under the release's work folder. None of them trained the SAEs, so all count as held out."""

    def tokens() -> Tensor:
        return torch.from_numpy(np.asarray(LatentIndex.served(release, release.sae_ids[0]).get().tokens)).long()

    def data() -> LensData:
        model, contexts = lm(), tokens()
        digest = hashlib.sha256(contexts.numpy().tobytes()).hexdigest()
        folder = release.paths.root / "work" / f"lens-{digest[:16]}"
        acts = Activations(
            folder, contexts, model.name, release.hook, release.convention, fast_bf16(model.device), lm
        ).get()
        calibration = slice(None, CALIBRATION_CONTEXTS)
        cap = norm_cap(acts[calibration], contexts[calibration], model.bos_id, release.outlier_norm_multiple)
        keep = kept_positions(contexts, acts, model.bos_id, cap)
        return LensData(contexts, acts, keep, slice(None), model.vocab_strings())

    return LensSource(lambda: contexts_key(release, tokens()), data)
