"""Build a locally trained release, as a list of named stages (`stages()`):

    activations -> train SAE-<smallest> -> index SAE-<smallest>      (the app is usable from here)
    -> train and index each larger SAE -> train the meta-SAEs -> stitching curves -> latent maps

Every stage writes its output atomically and is skipped when that output is already there, so a
rerun with everything present is a no-op and an interrupted build resumes at the stage (and, for
activations, training and indexing, at the chunk or step) where it stopped. `scripts/run.sh` runs
the stages up to `USABLE` in the foreground and the rest behind the app (`build_progress.py`).
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from backend.core.config import default_device, fast_bf16
from backend.core.errors import AtlasError
from backend.core.files import atomic_path, write_json_atomic
from backend.core.progress import Reporter, TqdmReporter, tee
from backend.data.activations import cached_activations, norm_cap, token_vectors
from backend.data.corpus import corpus_texts, pack_contexts
from backend.data.heldout import HELDOUT_CONTEXTS, Split, held_out_from, read_split, write_split
from backend.explore.latent_map import latent_map
from backend.index.store import META
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import load_sae
from backend.pipeline.members import (
    METRICS,
    FamilyData,
    IndexJob,
    sae_is_current,
    train_config,
    train_member,
    train_meta_member,
)
from backend.pipeline.progress import ProgressWriter, build_lock
from backend.sources.catalog import Release, SAEEntry
from backend.stitching.family import CurveConfig, cached_curves, compute_curves
from backend.training.meta import MetaTrainConfig
from backend.training.trainer import TrainConfig


@dataclass(frozen=True)
class BuildConfig:
    """How much data and training a build spends. `tiny` runs end to end in seconds for tests."""

    n_contexts: int
    """Corpus contexts whose activations are computed (training + held-out)."""
    eval_contexts: int
    """The last contexts, held out for FVU, L0, dead latents and coherence."""
    index_contexts: int
    """The last contexts, indexed for the cards (they include the held-out ones)."""
    epochs: float
    batch_size: int = 1024
    meta_epochs: float = 200
    meta_lr: float = 3e-3
    meta_batch: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.eval_contexts < self.n_contexts or not 0 < self.index_contexts <= self.n_contexts:
            raise AtlasError(
                f"A profile of {self.n_contexts} contexts cannot hold out {self.eval_contexts} and index "
                f"{self.index_contexts}: it needs 0 < held out < contexts and 0 < indexed <= contexts."
            )


PROFILES = {
    # 2,000 contexts (256k tokens) to block 16 fit the build in its time budget on a 2-core CPU without bf16; three
    # epochs over them bring the novel fractions into the paper's range (benchmarks/bench_hook_sweep.py, BENCHMARKS.md).
    "default": BuildConfig(n_contexts=2000, eval_contexts=240, index_contexts=2000, epochs=3.0),
    "tiny": BuildConfig(
        n_contexts=40, eval_contexts=8, index_contexts=16, epochs=3.0, batch_size=256, meta_epochs=30, meta_batch=64
    ),
}
USABLE = "usable"
"""`build_release(until=USABLE)` returns once the first SAE and its index are ready."""


def corpus_key(release: Release, profile: BuildConfig) -> dict[str, Any]:
    """What the corpus contexts are made from."""
    return {
        "corpus": release.corpus.key(),
        "context_size": release.context_size,
        "contexts": profile.n_contexts,
        "seed": profile.seed,
        "model": release.model,
    }


def data_key(release: Release, profile: BuildConfig) -> str:
    """What the training and held-out activations are made from: a changed profile, corpus or hook changes it."""
    return json.dumps(
        {
            "corpus": corpus_key(release, profile),
            "hook": release.hook,
            "convention": release.convention,
            "eval_contexts": profile.eval_contexts,
            "outlier_norm_multiple": release.outlier_norm_multiple,
            "autocast": fast_bf16(default_device()),
        },
        sort_keys=True,
    )


def _corpus(release: Release, lm: LanguageModel, profile: BuildConfig) -> Tensor:
    """The corpus contexts, reused only when made from the same settings (`corpus.json` says which; a corpus
    from before it was recorded is reused when its shape is this profile's)."""
    path, record = release.paths.corpus, release.paths.corpus.with_suffix(".json")
    key = corpus_key(release, profile)
    if path.exists():
        tokens = torch.from_numpy(np.load(path)).long()
        stored = json.loads(record.read_text()) if record.exists() else None
        if stored == key or (stored is None and tuple(tokens.shape) == (profile.n_contexts, release.context_size)):
            write_json_atomic(record, key)
            return tokens
    tokens = pack_contexts(
        corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, profile.n_contexts, profile.seed
    )
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.save(handle, tokens.numpy().astype(np.int32))
    write_json_atomic(record, key)
    return tokens


def family_data(release: Release, lm: LanguageModel, profile: BuildConfig, report: Reporter) -> FamilyData:
    """Corpus -> activations (cached, resumable) -> norm cap -> train and held-out token vectors."""
    tokens = _corpus(release, lm, profile)
    acts = cached_activations(
        lm, tokens, release.hook, release.convention, release.paths.activations, fast_bf16(lm.device),
        progress=lambda d, t: report("activations", d, t),
    )  # fmt: skip
    n_train = len(tokens) - profile.eval_contexts
    if n_train <= 0 or len(tokens) < profile.index_contexts:
        raise AtlasError(
            f"The corpus has {len(tokens)} contexts; this profile holds out {profile.eval_contexts} and indexes "
            f"{profile.index_contexts}. Use a larger corpus or a smaller profile."
        )
    cap = norm_cap(acts[:n_train], tokens[:n_train], lm.bos_id, release.outlier_norm_multiple)
    if cap is not None and not (math.isfinite(cap) and cap > 0):
        raise AtlasError(
            f"The activations' norm cap came out {cap}: the activations are corrupt; delete {release.paths.activations} and build again."
        )
    train_x = token_vectors(acts[:n_train], tokens[:n_train], lm.bos_id, cap)
    eval_x = token_vectors(acts[n_train:], tokens[n_train:], lm.bos_id, cap)
    if not len(train_x) or not len(eval_x):
        raise AtlasError("No training or held-out tokens are left after the norm cap: the corpus is too small.")
    write_split(release, Split(n_train, cap))
    return FamilyData(tokens, acts, cap, n_train, train_x, eval_x, data_key(release, profile))


@dataclass
class _Context:
    """What the stages share; the model and the activations are loaded on first use."""

    release: Release
    profile: BuildConfig
    report: Reporter
    _lm: LanguageModel | None = None
    _data: FamilyData | None = None

    @property
    def lm(self) -> LanguageModel:
        if self._lm is None:
            self._lm = load_language_model(self.release.model, default_device())
        return self._lm

    @property
    def data(self) -> FamilyData:
        if self._data is None:
            self._data = family_data(self.release, self.lm, self.profile, self.report)
        return self._data


Stage = tuple[str, Callable[[_Context], None]]


def stages(release: Release) -> list[Stage]:
    """The build, in order. The marker `USABLE` follows the first SAE's index."""
    out: list[Stage] = [("activations", _activations_stage)]
    for number, entry in enumerate(release.saes):
        out.append((f"train SAE-{entry.id}", partial(_train_stage, entry=entry)))
        out.append((f"index SAE-{entry.id}", partial(_index_stage, entry=entry)))
        if number == 0:
            out.append((USABLE, _usable_stage))
    out.append(("train meta-SAEs", _meta_stage))
    out.append(("stitching curves", _curves_stage))
    out.append(("latent maps", _maps_stage))
    return out


def _sae_cfg(c: _Context, entry: SAEEntry) -> TrainConfig:
    # Its own seed per size: with one seed, the data initialisation of every size would start
    # from the same inputs, and stitching would match latents by shared starting point.
    seed = len(c.release.saes) - 1 - c.release.saes.index(entry)
    return train_config(c.release, entry, c.profile.epochs, c.profile.batch_size, c.profile.seed + seed)


def _activations_stage(c: _Context) -> None:
    """Corpus and activations, read or computed, when some SAE has to be trained from them."""
    if any(e.d_sae and not sae_is_current(e, _sae_cfg(c, e), data_key(c.release, c.profile)) for e in c.release.saes):
        c.data  # noqa: B018 - loading computes (or reads back) the corpus and its activations


def _usable_stage(c: _Context) -> None:
    """A marker: everything before it is what the app needs to open."""


def _meta_stage(c: _Context) -> None:
    for entry in c.release.meta_saes:
        if entry.d_sae is None or entry.k is None:
            continue
        p = c.profile
        cfg = MetaTrainConfig(entry.d_sae, entry.k, p.meta_epochs, p.meta_lr, p.meta_batch, seed=p.seed)
        train_meta_member(c.release, entry, cfg, lambda: c.data.eval_x, c.report)


def _maps_stage(c: _Context) -> None:
    for entry in c.release.saes:
        latent_map(c.release, entry.id, report=c.report)


def _train_stage(c: _Context, entry: SAEEntry) -> None:
    if entry.d_sae and not sae_is_current(entry, cfg := _sae_cfg(c, entry), data_key(c.release, c.profile)):
        train_member(c.release, entry, c.data, cfg, c.report)


def _index_stage(c: _Context, entry: SAEEntry) -> None:
    """Index the SAE unless its index is current; the activations are read only when it is not."""
    job = IndexJob(entry, c.profile.index_contexts)
    sae = load_sae(c.release, entry.id, default_device()).sae
    known = (c._data.cap,) if c._data is not None else _stored_cap(c.release)
    if known is not None and job.is_current(c.release, sae, known[0]):
        return
    job.run(c.release, sae, c.lm, c.data, c.report)


def _stored_cap(release: Release) -> tuple[float | None] | None:
    """The norm cap the last data load recorded (split.json), or None when there is none."""
    try:
        return (read_split(release).norm_cap,)
    except AtlasError:
        return None


def _curves_stage(c: _Context) -> None:
    settings = CurveConfig()
    if cached_curves(c.release, settings) is not None:
        return
    data = c.data
    held = Split(data.n_train, data.cap).held_out(len(data.tokens), HELDOUT_CONTEXTS)  # as `heldout()` reads it
    compute_curves(
        c.release, settings, c.lm, c.report, held_out_from(data.tokens[held], data.acts[held], c.lm.bos_id, data.cap)
    )


def build_release(
    release: Release, profile_name: str = "default", report: Reporter | None = None, until: str | None = None
) -> dict[str, Any]:
    """Build every missing, corrupt or out-of-date piece of `release` (up to and including stage `until`, if
    given); returns the build summary (with every SAE's and meta-SAE's metrics once complete). On a complete,
    intact build every stage is a check, so rerunning it is how a damaged release is repaired."""
    if not release.built:
        raise AtlasError(f"Release {release.id!r} is not built locally (its source is not 'built').")
    if profile_name not in PROFILES:
        raise AtlasError(f"Unknown build profile {profile_name!r}; choose one of {', '.join(PROFILES)}.")
    profile = PROFILES[profile_name]
    for entry in release.saes:  # a bad `training` table is refused before hours of work, not after
        train_config(release, entry, profile.epochs, profile.batch_size, profile.seed)
    plan = stages(release)
    names = [name for name, _ in plan]
    with build_lock(release):
        writer = ProgressWriter(release, names)
        context = _Context(release, profile, tee(report or TqdmReporter(), writer.report))
        torch.manual_seed(profile.seed)
        try:
            for name, run in plan:
                writer.stage(name)
                run(context)
                if name == until:
                    writer.finish("stopped")
                    return {"complete": False, "profile": profile_name, "until": until}
            summary = _write_summary(release, profile_name, context)
        except BaseException as err:
            writer.finish("failed", f"{type(err).__name__}: {err}")
            raise
        writer.finish("complete")
    return summary


def ready_saes(release: Release) -> list[str]:
    """SAEs of a built release whose weights and index are both finished (in catalog order)."""
    return [
        entry.id
        for entry in release.saes
        if (Path(entry.location.path) / METRICS).exists() and (release.paths.index(entry.id) / META).exists()
    ]


def read_summary(release: Release) -> dict[str, Any]:
    """`build.json` of a built release ({} before the build first completes, or when it is unreadable)."""
    try:
        summary = json.loads(release.paths.summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _write_summary(release: Release, profile_name: str, c: _Context) -> dict[str, Any]:
    """The summary, with token counts from this run's data, or from the last summary when nothing needed it."""
    counts = read_summary(release) if c._data is None else _data_counts(c.data, c.lm.bos_id)
    if not {"norm_cap", "tokens", "excluded_fraction"} <= counts.keys():
        counts = _data_counts(c.data, c.lm.bos_id)
    summary = {
        "complete": True,
        "profile": profile_name,
        **{key: counts[key] for key in ("norm_cap", "tokens", "excluded_fraction")},
        "metrics": {
            e.id: json.loads((Path(e.location.path) / METRICS).read_text()) for e in (*release.saes, *release.meta_saes)
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
