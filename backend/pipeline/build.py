"""Build a locally trained release as an ordered plan of artifacts (`plan()`, backend/core/artifacts.py):

    train SAE-<smallest> -> index SAE-<smallest>      (the app is usable from here)
    -> train and index each larger SAE -> meta-SAEs -> matchings -> stitching curves -> latent maps -> facets
    -> second seeds -> the other canonical-units lenses (seed alignments, co-firing, absorption, ...)

Each is computed unless current (`read() or compute()`); the corpus and its activations are artifacts too, read
or computed on first use by one that computes. Every artifact is written atomically, so a rerun with everything
current is a no-op and an interrupted build resumes at the artifact (and, for activations, training and indexing,
at the chunk or step) where it stopped. `scripts/run.sh` runs the plan up to `USABLE` in the foreground and the
rest behind the app (backend/pipeline/progress.py).
"""

import hashlib
import json
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from backend.core.artifacts import Artifact
from backend.core.config import default_device
from backend.core.errors import AtlasError
from backend.core.files import write_json_atomic
from backend.core.progress import Reporter, TqdmReporter, tee
from backend.data.activations import kept_positions
from backend.data.heldout import HELDOUT_CONTEXTS, HeldOut, Split, held_out_from, read_split
from backend.explore.latent_map import LatentMap
from backend.index.artifact import LatentIndex
from backend.lenses.profile import lens_artifacts
from backend.lenses.source import LensData, built_source
from backend.models.formats import read_metrics
from backend.models.language import LanguageModel, load_language_model
from backend.pipeline.family_data import FamilyData, data_key, family_data
from backend.pipeline.lanes import Lanes, overlaps
from backend.pipeline.members import TrainedMeta, TrainedSAE, family_index, train_config, trained
from backend.pipeline.profiles import PROFILES, BuildConfig
from backend.pipeline.progress import ProgressWriter, build_lock
from backend.sources.catalog import data_source
from backend.sources.release import Release, SAEEntry, SeedEntry
from backend.stitching.family import Curves, PairMatching
from backend.training.meta import MetaTrainConfig
from backend.training.trainer import TrainConfig

LANGUAGE_MODEL = "language model"
"""The step that loads it (converting it first on a fresh machine), as the progress and `build` name it."""
USABLE = "usable"
"""`build_release(until=USABLE)` returns once the first SAE and its index are ready."""


@dataclass
class _Inputs:
    """What the artifacts of one build share; the model and the data are loaded on first use."""

    release: Release
    profile: BuildConfig
    _lm: LanguageModel | None = None
    _data: FamilyData | None = None
    report: Reporter = field(default=lambda *_: None)
    loaded: Callable[[str, float], None] = field(default=lambda *_: None)
    """Told the seconds each input took (`ProgressWriter.loaded`)."""
    _loading: threading.RLock = field(default_factory=threading.RLock)
    """Both lanes of a build may ask for the model or the data first (backend/pipeline/lanes.py): loaded once."""

    def lm(self) -> LanguageModel:
        with self._loading:
            if self._lm is None:
                start = time.perf_counter()
                self.report(LANGUAGE_MODEL, 0, 1)  # a fresh machine converts it first: seconds with no other step
                self._lm = load_language_model(self.release.model, default_device())
                self.report(LANGUAGE_MODEL, 1, 1)
                self.loaded(LANGUAGE_MODEL, time.perf_counter() - start)
            return self._lm

    def data(self) -> FamilyData:
        with self._loading:
            if self._data is None:
                lm = self.lm()
                start = time.perf_counter()
                self._data = family_data(self.release, lm, self.profile, self.report)
                self.loaded("corpus and activations", time.perf_counter() - start)
            return self._data

    def cap(self) -> tuple[float | None] | None:
        """The norm cap without loading the data: this run's, or the one the last data load recorded."""
        if self._data is not None:
            return (self._data.cap,)
        try:
            return (read_split(self.release).norm_cap,)
        except AtlasError:
            return None

    def lens_data(self) -> LensData:
        """The whole corpus for the lenses; co-firing reads its held-out contexts."""
        data, lm = self.data(), self.lm()
        keep = kept_positions(data.tokens, data.acts, lm.bos_id, data.cap)
        return LensData(data.tokens, data.acts, keep, slice(data.n_train, None), lm.vocab_strings())

    def held_out(self) -> HeldOut:
        data = self.data()
        held = Split(data.n_train, data.cap).held_out(len(data.tokens), HELDOUT_CONTEXTS)  # as `heldout()` reads it
        return held_out_from(data.tokens[held], data.acts[held], self.lm().bos_id, data.cap)


@dataclass(frozen=True)
class BuildPlan:
    artifacts: list[Artifact]
    """In build order."""
    usable: int
    """The first `usable` artifacts are what the app needs to open."""

    def stage_names(self) -> list[str]:
        names = [a.name for a in self.artifacts]
        return [*names[: self.usable], USABLE, *names[self.usable :]]


def _family_seed(release: Release) -> int:
    """0 for a family with its own data; a family trained from another's data starts from seeds of its own (from
    its id, so they stay put when the catalog changes): two families from one seed would start from the same
    inputs, and their cross-family matches would be a shared starting point."""
    return 0 if release.data_of is None else int(hashlib.sha256(release.id.encode()).hexdigest()[:6], 16)


def _sae_cfg(release: Release, profile: BuildConfig, entry: SAEEntry) -> TrainConfig:
    # Its own seed per size: with one seed, the data initialisation of every size would start
    # from the same inputs, and stitching would match latents by shared starting point.
    seed = _family_seed(release) + len(release.saes) - 1 - release.saes.index(entry)
    return train_config(release, entry, profile.epochs, profile.batch_size, profile.seed + seed)


def _second_seed_cfg(release: Release, profile: BuildConfig, entry: SeedEntry) -> TrainConfig:
    # Seeds no family member uses: the two SAEs share data, recipe and budget, and differ only in the seed.
    seed = _family_seed(release) + len(release.saes) + release.second_seeds.index(entry)
    return train_config(release, entry, profile.epochs, profile.batch_size, profile.seed + seed)


def _trained(entries: tuple[SAEEntry, ...], release: Release) -> list[SAEEntry]:
    """Each set of weights the entries read, once, as the entry it is trained as (`Release.widest`: the prefixes
    of one Matryoshka SAE are one training)."""
    widest = [release.widest(entry.id) for entry in entries if entry.d_sae]
    return [entry for n, entry in enumerate(widest) if entry not in widest[:n]]


def plan(release: Release, profile: BuildConfig, inputs: _Inputs | None = None) -> BuildPlan:
    """Every artifact of the built release, in build order."""
    inputs = inputs or _Inputs(release, profile)
    key = data_key(release, profile)
    artifacts: list[Artifact] = []
    usable = 0
    for number, entry in enumerate(_trained(release.saes, release)):
        artifacts.append(TrainedSAE(release, entry, _sae_cfg(release, profile, entry), key, inputs.data))
        artifacts.append(family_index(release, entry, profile.index_contexts, inputs.lm, inputs.data, inputs.cap))
        if number == 0:
            usable = len(artifacts)
    p = profile
    for meta in release.meta_saes:
        if meta.d_sae is not None and meta.k is not None:
            cfg = MetaTrainConfig(meta.d_sae, meta.k, p.meta_epochs, p.meta_lr, p.meta_batch, seed=p.seed)
            artifacts.append(TrainedMeta(release, meta, cfg, lambda: inputs.data().eval_x))
    artifacts += [PairMatching(release, small, large) for small, large in release.neighbour_pairs]
    artifacts.append(Curves(release, lm=inputs.lm, held_out=inputs.held_out))
    artifacts += [LatentMap(release, sae_id) for sae_id in release.sae_ids]
    lenses = lens_artifacts(release, built_source(release, inputs.lens_data))
    # A lens may read a file another family keeps (the cross-family matches live with the family built second).
    lenses = [artifact for artifact in lenses if getattr(artifact, "release", release).id == release.id]
    # The CPU-bound lenses (facets: the index and the corpus) next to the maps, before the second seeds: on a GPU
    # they then run beside the seeds' training, and the seeds train together (backend/pipeline/lanes.py).
    artifacts += [artifact for artifact in lenses if artifact.cpu_bound]
    for twin in _trained(release.second_seeds, release):
        assert isinstance(twin, SeedEntry)
        twin_cfg = _second_seed_cfg(release, profile, twin)
        artifacts.append(TrainedSAE(release, twin, twin_cfg, key, inputs.data, together=True))
    artifacts += [artifact for artifact in lenses if not artifact.cpu_bound]
    return BuildPlan(artifacts, usable)


def built_lens_data(release: Release, profile_name: str = "default") -> LensData:
    """The lens activations of a built release (its corpus and cached activations), as its build reads them."""
    return _Inputs(release, PROFILES[profile_name]).lens_data()


def build_release(
    release: Release,
    profile_name: str = "default",
    report: Reporter | None = None,
    until: str | None = None,
    overlap: bool | None = None,
) -> dict[str, Any]:
    """Build every missing, corrupt or out-of-date piece of `release` (up to and including stage `until`, if
    given); returns the build summary (with every SAE's and meta-SAE's metrics once complete). On a complete,
    intact build every stage is a check, so rerunning it is how a damaged release is repaired. `overlap`: run the
    CPU-bound stages beside the others and train the second seeds together (default: on a GPU, `lanes.overlaps`)."""
    if not release.built:
        raise AtlasError(f"Release {release.id!r} is not built locally (its source is not 'built').")
    if profile_name not in PROFILES:
        raise AtlasError(f"Unknown build profile {profile_name!r}; choose one of {', '.join(PROFILES)}.")
    profile = PROFILES[profile_name]
    for entry in (*_trained(release.saes, release), *_trained(release.second_seeds, release)):
        train_config(release, entry, profile.epochs, profile.batch_size, profile.seed)  # refused before hours of work
    owner = data_source(release)
    with ExitStack() as held:
        if owner is not None:  # its data is that release's: never made by two builds at once
            held.enter_context(build_lock(owner))
        held.enter_context(build_lock(release))
        inputs = _Inputs(release, profile)
        build = plan(release, profile, inputs)
        writer = ProgressWriter(release, build.stage_names(), profile_name)
        terminal = report or TqdmReporter()
        inputs.report, inputs.loaded = tee(terminal, writer.report), writer.loaded
        beside = overlaps(default_device()) if overlap is None else overlap
        torch.manual_seed(profile.seed)
        lanes = Lanes(writer, inputs.report, terminal, beside)
        try:
            with lanes:
                for number, artifact in enumerate(build.artifacts):
                    lanes.run(artifact)
                    if number + 1 == build.usable:
                        lanes.join()
                        writer.stage(USABLE)
                        if until == USABLE:
                            writer.finish("stopped")
                            return {"complete": False, "profile": profile_name, "until": until}
                lanes.join()
            summary = _write_summary(release, profile_name, inputs)
        except BaseException as err:
            writer.finish("failed", f"{type(err).__name__}: {err}", stage=lanes.failed)
            raise
        writer.finish("complete")
    return summary


def ready_saes(release: Release) -> list[str]:
    """SAEs of a built release whose weights and index are both finished (in catalog order), as their artifacts
    answer it (`finished`): the one answer the router, the build panel and the pages read."""
    return [
        entry.id
        for entry in release.saes
        if trained(Path(entry.location.path)) and LatentIndex.served(release, entry.id).finished()
    ]


def read_summary(release: Release) -> dict[str, Any]:
    """`build.json` of a built release ({} before the build first completes, or when it is unreadable)."""
    try:
        summary = json.loads(release.paths.summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _write_summary(release: Release, profile_name: str, c: _Inputs) -> dict[str, Any]:
    """The summary, with token counts from this run's data, or from the last summary when nothing needed it."""
    counts = read_summary(release) if c._data is None else _data_counts(c.data(), c.lm().bos_id)
    if not {"norm_cap", "tokens", "excluded_fraction"} <= counts.keys():
        counts = _data_counts(c.data(), c.lm().bos_id)
    summary = {
        "complete": True,
        "profile": profile_name,
        **{key: counts[key] for key in ("norm_cap", "tokens", "excluded_fraction")},
        "metrics": {
            e.id: read_metrics(Path(e.location.path), e.prefix) or {} for e in (*release.saes, *release.meta_saes)
        },
    }
    write_json_atomic(release.paths.summary, summary)
    return summary


def _data_counts(data: FamilyData, bos_id: int) -> dict[str, Any]:
    kept = len(data.train_x) + len(data.eval_x)
    return {
        "norm_cap": data.cap,
        "tokens": {"train": len(data.train_x), "eval": len(data.eval_x), "contexts": len(data.tokens)},
        "excluded_fraction": 1 - kept / max(1, int((data.tokens != bos_id).sum())),
    }
