"""The canonical-units lenses of a release as artifacts (backend/core/artifacts.py), at `ReleasePaths.lens`:

    SeedMatch   seeds-<sae>.safetensors       partners in the SAE's second seed (lenses/seeds.py)
    CoFiring    cofiring-<s>-<l>.parquet      co-firing on the lineage edges of a pair (lenses/cofiring.py)
    Absorption  absorption-<sae>.parquet      first-letter absorption per letter (lenses/absorption.py)
    Facets      facets-<sae>.parquet          facets of every latent (lenses/facets.py)

Each is keyed on the weights it reads and, where it reads activations, on what those were made from (`LensData`).
A lens a release cannot have (no second seed, no word tokens) is absent from `lens_artifacts`, never an error.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.artifacts import Artifact, KeyedTable, canonical, safetensors_key
from backend.core.config import default_device, fast_bf16
from backend.core.errors import AtlasError
from backend.core.files import atomic_path
from backend.core.progress import Reporter, silent
from backend.data.activations import CALIBRATION_CONTEXTS, Activations, kept_positions, norm_cap
from backend.index.artifact import LatentIndex
from backend.lenses import absorption, cofiring, facets
from backend.lenses.seeds import SeedAlignment, align_seeds
from backend.models.language import LanguageModel
from backend.models.loading import load_sae, source_key
from backend.sources.catalog import Release
from backend.stitching.family import PairMatching


@dataclass
class LensData:
    """The activations the lenses read: contexts `tokens [n_ctx, seq]`, `acts [n_ctx, seq, d]`, the positions SAEs
    are meant for `keep [n_ctx, seq]`, which contexts are held out from training, and the vocabulary."""

    tokens: Tensor
    acts: Tensor
    keep: Tensor
    held_out: slice
    vocab: list[str]

    @cached_property
    def words(self) -> absorption.WordTokens:
        return absorption.word_tokens(self.tokens, self.acts, self.keep, self.vocab)

    @cached_property
    def probe(self) -> absorption.LetterProbe:
        return absorption.fit_probe(self.words)

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
        if self._loaded is None:
            self._loaded = self._data()
        return self._loaded


class SeedMatch(Artifact[SeedAlignment]):
    """One-to-one partners of an SAE's latents in its second seed, keyed on both SAEs' weights."""

    def __init__(self, release: Release, sae_id: str) -> None:
        self.release, self.sae_id = release, sae_id
        twin = release.second_seed(sae_id)
        assert twin is not None, f"SAE {sae_id} has no second seed"
        self.twin_id = twin.id

    @property
    def name(self) -> str:
        return f"seed alignment SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"seeds-{self.sae_id}.safetensors")

    def files(self) -> list[Path]:
        return [self.path] if self.path.exists() else []

    def key(self) -> str:
        return canonical([source_key(self.release, self.sae_id), source_key(self.release, self.twin_id)])

    def stored_key(self) -> str | None:
        return safetensors_key(self.path)

    def load(self) -> SeedAlignment | None:
        try:
            return SeedAlignment(**load_file(str(self.path)))
        except (FileNotFoundError, SafetensorError, TypeError, OSError):
            return None

    def compute(self, report: Reporter = silent) -> SeedAlignment:
        report(self.name, 0, 1)
        device = default_device()
        found = align_seeds(
            load_sae(self.release, self.sae_id, device).sae, load_sae(self.release, self.twin_id, device).sae
        )
        with atomic_path(self.path) as tmp:
            save_file({k: v.contiguous() for k, v in found.tensors().items()}, str(tmp), metadata={"key": self.key()})
        report(self.name, 1, 1)
        return found


class CoFiring(KeyedTable):
    """Co-firing on every stored edge of a neighbouring pair, over held-out tokens, with each split's verdict."""

    def __init__(self, release: Release, small_id: str, large_id: str, source: LensSource) -> None:
        self.release, self.small_id, self.large_id, self.source = release, small_id, large_id, source

    @property
    def name(self) -> str:
        return f"co-firing SAE-{self.small_id}→{self.large_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"cofiring-{self.small_id}-{self.large_id}.parquet")

    def key(self) -> str:
        rules = {"coverage": cofiring.MIN_COVERAGE, "overlap": cofiring.MAX_OVERLAP}
        matching = PairMatching(self.release, self.small_id, self.large_id).key()
        return canonical({"matching": matching, "data": self.source.data_key(self.stored_key()), "rules": rules})

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        report(self.name, 0, 2)
        matching = PairMatching(self.release, self.small_id, self.large_id).get()
        vectors = self.source().held_out_vectors
        small, large = (load_sae(self.release, i, default_device()).sae for i in (self.small_id, self.large_id))
        fired = cofiring.firing(small, vectors), cofiring.firing(large, vectors)
        report(self.name, 1, 2)
        frame = self.store(cofiring.edge_table(matching, *fired))
        report(self.name, 2, 2)
        return frame


class _SAELens(KeyedTable):
    """A lens stored as one table per SAE, at `lens("<file>-<sae>.parquet")`, named "<file> SAE-<sae>"."""

    file: ClassVar[str]

    def __init__(self, release: Release, sae_id: str, source: LensSource) -> None:
        self.release, self.sae_id, self.source = release, sae_id, source

    @property
    def name(self) -> str:
        return f"{self.file} SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.lens(f"{self.file}-{self.sae_id}.parquet")


class Absorption(_SAELens):
    """First-letter absorption of one SAE, one row per letter (with the probe's held-out accuracy)."""

    file = "absorption"

    def key(self) -> str:
        rules = {name: getattr(absorption, name) for name in absorption.RULES}
        return canonical(
            {
                "sae": source_key(self.release, self.sae_id),
                "data": self.source.data_key(self.stored_key()),
                "rules": rules,
            }
        )

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        report(self.name, 0, 2)
        data = self.source()
        if not absorption.probe_possible(data.words):  # stored empty: the lens says why, it is not retried
            return self.store(pd.DataFrame(columns=absorption.COLUMNS))
        probe = data.probe
        report(self.name, 1, 2)
        sae = load_sae(self.release, self.sae_id, default_device()).sae
        frame = absorption.absorption_table(sae, data.words, probe, data.vocab).assign(probe_accuracy=probe.accuracy)
        self.store(frame)
        report(self.name, 2, 2)
        return frame


class Facets(_SAELens):
    """Facets of every latent of one SAE, from its index's interval examples."""

    file = "facets"

    def key(self) -> str:
        rules = {"window": facets.WINDOW, "distance": facets.FACET_DISTANCE, "share": facets.MIN_SHARE}
        index = LatentIndex.served(self.release, self.sae_id).stored_key()
        return canonical({"index": index, "data": self.source.data_key(self.stored_key()), "rules": rules})

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        report(self.name, 0, 3)
        reader = LatentIndex.served(self.release, self.sae_id).get()
        samples = reader.interval_samples()
        data = self.source()
        acts = _index_contexts(np.asarray(reader.tokens), data)
        report(self.name, 1, 3)
        vectors = facets.context_vectors(acts, samples["token"].to_numpy())
        report(self.name, 2, 3)
        flat = reader.tokens.reshape(-1)
        strings = [reader.vocab[int(flat[i])] for i in samples["token"].to_numpy()]
        frame = self.store(facets.facet_table(samples, vectors, strings))
        report(self.name, 3, 3)
        return frame


def _index_contexts(index_tokens: np.ndarray, data: LensData) -> Tensor:
    """The activations of the index's contexts: the last contexts of the lens data when they are the same ones."""
    n = len(index_tokens)
    if n <= len(data.tokens) and np.array_equal(data.tokens[-n:].numpy(), index_tokens):
        return data.acts[-n:]
    raise AtlasError(
        "The index was built over other contexts than the lens activations; rebuild the index or the release."
    )


def lens_artifacts(release: Release, source: LensSource) -> list[Artifact]:
    """Every lens the release can have, in build order (seeds first: they need no activations)."""
    found: list[Artifact] = [SeedMatch(release, s.of) for s in release.second_seeds]
    found += [CoFiring(release, small, large, source) for small, large in release.neighbour_pairs]
    found += [Absorption(release, sae_id, source) for sae_id in release.sae_ids]
    found += [Facets(release, sae_id, source) for sae_id in release.sae_ids]
    return found


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
