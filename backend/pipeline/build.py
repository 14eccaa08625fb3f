"""Build a locally trained release, as a list of named stages (`stages()`):

    activations -> train SAE-<smallest> -> index SAE-<smallest>      (the app is usable from here)
    -> train and index each larger SAE -> train the meta-SAEs -> stitching curves -> latent maps

Every stage writes its output atomically and is skipped when that output is already there, so a
rerun with everything present is a no-op and an interrupted build resumes at the stage (and, for
activations, training and indexing, at the chunk or step) where it stopped. `scripts/run.sh` runs
the stages up to `USABLE` in the foreground and the rest behind the app (`build_progress.py`).
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from backend.core.config import default_device
from backend.core.errors import CatalogError
from backend.core.files import atomic_path, write_json_atomic
from backend.core.progress import Reporter, TqdmReporter, tee
from backend.data.activations import cached_activations, norm_cap, token_vectors
from backend.data.corpus import corpus_texts, pack_contexts
from backend.data.heldout import HELDOUT_CONTEXTS, Split, held_out_from, write_split
from backend.explore.latent_map import latent_map
from backend.index.build import IndexConfig, build_index
from backend.index.release import index_key
from backend.index.store import META
from backend.metasae.decompose import decompose_all
from backend.models.formats import save_saelens
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.pipeline.progress import ProgressWriter, build_lock
from backend.sources.catalog import Release, SAEEntry
from backend.stitching.family import CurveConfig, compute_curves
from backend.training.meta import MetaTrainConfig, base_metrics, fit_meta, save_meta
from backend.training.metrics import decoder_geometry, member_coherence, reconstruction_metrics
from backend.training.trainer import TrainConfig, train_sae

METRICS = "metrics.json"


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
    autocast: bool = True
    seed: int = 0


PROFILES = {
    "default": BuildConfig(n_contexts=9000, eval_contexts=600, index_contexts=8400, epochs=1.0),
    "tiny": BuildConfig(
        n_contexts=40, eval_contexts=8, index_contexts=16, epochs=3.0, batch_size=256, meta_epochs=30, meta_batch=64
    ),
}
USABLE = "usable"
"""`build_release(until=USABLE)` returns once the first SAE and its index are ready."""
DENSITY_BATCH = 4096


def _done(path: Path) -> bool:
    return (path / METRICS).exists()


def _corpus(release: Release, lm: LanguageModel, profile: BuildConfig) -> Tensor:
    path = release.paths.corpus
    if path.exists():
        return torch.from_numpy(np.load(path)).long()
    tokens = pack_contexts(
        corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, profile.n_contexts, profile.seed
    )
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.save(handle, tokens.numpy().astype(np.int32))
    return tokens


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


def family_data(release: Release, lm: LanguageModel, profile: BuildConfig, report: Reporter) -> FamilyData:
    """Corpus -> activations (cached, resumable) -> norm cap -> train and held-out token vectors."""
    tokens = _corpus(release, lm, profile)
    acts = cached_activations(
        lm, tokens, release.hook, release.convention, release.paths.activations, profile.autocast,
        progress=lambda d, t: report("activations", d, t),
    )  # fmt: skip
    n_train = len(tokens) - profile.eval_contexts
    cap = norm_cap(acts[:n_train], tokens[:n_train], lm.bos_id, release.outlier_norm_multiple)
    train_x = token_vectors(acts[:n_train], tokens[:n_train], lm.bos_id, cap)
    eval_x = token_vectors(acts[n_train:], tokens[n_train:], lm.bos_id, cap)
    write_split(release, Split(n_train, cap))
    return FamilyData(tokens, acts, cap, n_train, train_x, eval_x)


def train_config(release: Release, entry: SAEEntry, profile: BuildConfig, seed: int) -> TrainConfig:
    """The trainer's settings for one SAE of the family: the release's recipe at this profile's budget."""
    assert entry.d_sae is not None
    try:
        return TrainConfig(
            d_sae=entry.d_sae,
            k=entry.k,
            **release.training,
            epochs=profile.epochs,
            batch_size=profile.batch_size,
            seed=seed,
        )
    except (TypeError, ValueError) as err:
        raise CatalogError(f"Release {release.id!r}: its training settings cannot train SAE {entry.id}: {err}") from err


def _train_member(release: Release, entry: SAEEntry, data: FamilyData, cfg: TrainConfig, report: Reporter) -> None:
    folder = Path(entry.location.path)
    result = train_sae(
        data.train_x,
        cfg,
        checkpoint=release.paths.checkpoint(entry.id),
        progress=lambda s, t, _m: report(f"train SAE-{entry.id}", s, t),
    )
    trained = result.sae
    sae = SAE(
        replace(
            trained.cfg,
            hook_name=release.hook,
            model_name=release.model,
            context_size=release.context_size,
            extra={"convention": release.convention, "training": asdict(cfg)},
        ),
        device=trained.device,
    )
    sae.load_state_dict(trained.state_dict())
    metrics = {**reconstruction_metrics(sae, data.eval_x), **decoder_geometry(sae, result.init_decoder)}
    save_saelens(sae, folder, log10_density=torch.log10(_density(sae, data.eval_x).clamp_min(1e-10)))
    write_json_atomic(folder / METRICS, {**metrics, "train_tokens": len(data.train_x)})


@torch.no_grad()
def _density(sae: SAE, x: Tensor) -> Tensor:
    """`[d_sae]` fraction of the tokens of `x [n, d_in]` on which each latent fires (all of them: a
    latent that fires once in 75k tokens is rare, not dead)."""
    fired = torch.zeros(sae.cfg.d_sae, device=sae.device)
    for start in range(0, len(x), DENSITY_BATCH):
        fired += (sae.encode(x[start : start + DENSITY_BATCH].float().to(sae.device)) > 0).sum(dim=0)
    return (fired / max(1, len(x))).cpu()


def _train_meta(release: Release, profile: BuildConfig, eval_x: Tensor, report: Reporter) -> None:
    for entry in release.meta_saes:
        folder = Path(entry.location.path)
        if _done(folder) or entry.d_sae is None or entry.k is None:
            continue
        base = load_sae(release, entry.over, default_device()).sae
        cfg = MetaTrainConfig(
            d_meta=entry.d_sae,
            k=entry.k,
            epochs=profile.meta_epochs,
            lr=profile.meta_lr,
            batch_size=profile.meta_batch,
            seed=profile.seed,
        )
        result, train_cfg = fit_meta(
            base,
            cfg,
            release.paths.checkpoint(entry.id),
            lambda s, t, _m, name=entry.id: report(f"train {name}", s, t),  # type: ignore[misc]
        )
        metrics = {**base_metrics(result, base), **member_coherence(decompose_all(result.sae, base), base, eval_x)}
        save_meta(result, train_cfg, entry.over, folder, metrics)


def _index_member(release: Release, entry: SAEEntry, lm: LanguageModel, data: FamilyData, profile: BuildConfig,
                  report: Reporter) -> None:  # fmt: skip
    tokens, acts = data.tokens[-profile.index_contexts :], data.acts[-profile.index_contexts :]
    build_index(
        load_sae(release, entry.id, default_device()).sae,
        tokens,
        lambda start, batch: acts[start : start + len(batch)].float(),
        IndexConfig(norm_cap=data.cap, bos_id=lm.bos_id),
        release.paths.index(entry.id),
        key=index_key(release, entry.id, len(tokens), data.cap),
        vocab=lm.vocab_strings(),
        unembed=lm.unembedding(),
        progress=lambda d, t: report(f"index SAE-{entry.id}", d, t),
    )


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
        # Its own seed per size: with one seed, the data initialisation of every size would start
        # from the same inputs, and stitching would match latents by shared starting point.
        seed = len(release.saes) - 1 - number
        out.append((f"train SAE-{entry.id}", partial(_train_stage, entry=entry, seed=seed)))
        out.append((f"index SAE-{entry.id}", partial(_index_stage, entry=entry)))
        if number == 0:
            out.append((USABLE, _usable_stage))
    out.append(("train meta-SAEs", _meta_stage))
    out.append(("stitching curves", _curves_stage))
    out.append(("latent maps", _maps_stage))
    return out


def _activations_stage(c: _Context) -> None:
    c.data  # noqa: B018 - loading computes (or reads back) the corpus and its activations


def _usable_stage(c: _Context) -> None:
    """A marker: everything before it is what the app needs to open."""


def _meta_stage(c: _Context) -> None:
    _train_meta(c.release, c.profile, c.data.eval_x, c.report)


def _maps_stage(c: _Context) -> None:
    for entry in c.release.saes:
        latent_map(c.release, entry.id, report=c.report)


def _train_stage(c: _Context, entry: SAEEntry, seed: int) -> None:
    if not _done(Path(entry.location.path)) and entry.d_sae:
        cfg = train_config(c.release, entry, c.profile, c.profile.seed + seed)
        _train_member(c.release, entry, c.data, cfg, c.report)


def _index_stage(c: _Context, entry: SAEEntry) -> None:
    _index_member(c.release, entry, c.lm, c.data, c.profile, c.report)


def _curves_stage(c: _Context) -> None:
    data = c.data
    held = Split(data.n_train, data.cap).held_out(len(data.tokens), HELDOUT_CONTEXTS)  # as `heldout()` reads it
    compute_curves(
        c.release,
        CurveConfig(),
        c.lm,
        c.report,
        held_out_from(data.tokens[held], data.acts[held], c.lm.bos_id, data.cap),
    )


def build_release(
    release: Release, profile_name: str = "default", report: Reporter | None = None, until: str | None = None
) -> dict[str, Any]:
    """Build every missing piece of `release` (up to and including stage `until`, if given); returns
    the build summary (with every SAE's and meta-SAE's metrics once complete)."""
    if not release.built:
        raise ValueError(f"Release {release.id!r} is not built locally (its source is not 'built').")
    summary = read_summary(release)
    if summary.get("complete") and summary.get("profile") == profile_name:
        return summary
    profile = PROFILES[profile_name]
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
        if _done(Path(entry.location.path)) and (release.paths.index(entry.id) / META).exists()
    ]


def read_summary(release: Release) -> dict[str, Any]:
    """`build.json` of a built release ({} before the build first completes)."""
    path = release.paths.summary
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _write_summary(release: Release, profile_name: str, c: _Context) -> dict[str, Any]:
    data = c.data
    summary = {
        "complete": True,
        "profile": profile_name,
        "norm_cap": data.cap,
        "tokens": {"train": len(data.train_x), "eval": len(data.eval_x), "contexts": len(data.tokens)},
        "excluded_fraction": 1
        - (len(data.train_x) + len(data.eval_x)) / max(1, int((data.tokens != c.lm.bos_id).sum())),
        "metrics": {
            e.id: json.loads((Path(e.location.path) / METRICS).read_text()) for e in (*release.saes, *release.meta_saes)
        },
    }
    write_json_atomic(release.paths.summary, summary)
    return summary
