"""Build a locally trained release: corpus -> activations -> SAE family -> meta-SAE -> indexes ->
stitching curves -> latent maps.

Every stage writes its output atomically and is skipped when that output is already there, so a
rerun with everything present is a no-op and an interrupted build resumes at the stage (and, for
activations, training and indexing, at the chunk or step) where it stopped.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from backend.activation_cache import cached_activations, norm_cap, token_vectors
from backend.catalog import Release
from backend.config import default_device
from backend.corpus import corpus_texts, pack_contexts
from backend.heldout import HELDOUT_CONTEXTS, held_out_from
from backend.index import IndexConfig, build_index
from backend.latent_map import latent_map
from backend.meta import decompose_all
from backend.meta_train import MetaTrainConfig, base_metrics, fit_meta, save_meta
from backend.metrics import decoder_geometry, member_coherence, reconstruction_metrics
from backend.models import LanguageModel, load_language_model
from backend.sae import SAE, SAEConfig
from backend.sae_formats import save_saelens
from backend.stitch_family import CurveSettings, compute_curves
from backend.storage import atomic_path, write_json_atomic
from backend.train import TrainConfig, train_sae

METRICS = "metrics.json"
Reporter = Callable[[str, int, int], None]
"""(stage description, done, total): how a build reports progress to a UI."""


@dataclass(frozen=True)
class BuildProfile:
    """How much data and training a build spends. `tiny` runs end to end in seconds for tests."""

    n_contexts: int
    """Corpus contexts whose activations are computed (training + held-out)."""
    eval_contexts: int
    """The last contexts, held out for FVU, L0, dead latents and coherence."""
    index_contexts: int
    """The last contexts, indexed for the cards (they include the held-out ones)."""
    epochs: float
    lr: float = 1e-3
    batch_size: int = 1024
    meta_epochs: float = 200
    meta_lr: float = 3e-3
    meta_batch: int = 512
    autocast: bool = True
    seed: int = 0


PROFILES = {
    "default": BuildProfile(n_contexts=4400, eval_contexts=600, index_contexts=1200, epochs=1.0),
    "tiny": BuildProfile(
        n_contexts=40, eval_contexts=8, index_contexts=16, epochs=3.0, batch_size=256, meta_epochs=30, meta_batch=64
    ),
}


class _Tqdm:
    """Reporter that draws tqdm bars on the terminal, one per stage."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="step", leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def _done(path: Path) -> bool:
    return (path / METRICS).exists()


def _corpus(release: Release, lm: LanguageModel, profile: BuildProfile) -> Tensor:
    path = release.root / "corpus.npy"
    if path.exists():
        return torch.from_numpy(np.load(path)).long()
    tokens = pack_contexts(
        corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, profile.n_contexts, profile.seed
    )
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.save(handle, tokens.numpy().astype(np.int32))
    return tokens


def _train_member(
    entry_id: str,
    d_sae: int,
    k: int,
    train_x: Tensor,
    eval_x: Tensor,
    release: Release,
    profile: BuildProfile,
    report: Reporter,
) -> None:
    folder = release.sae(entry_id).location.path
    cfg = TrainConfig(
        d_sae=d_sae,
        k=k,
        lr=profile.lr,
        epochs=profile.epochs,
        batch_size=profile.batch_size,
        aux_k=64,
        seed=profile.seed,
    )
    result = train_sae(
        train_x,
        cfg,
        checkpoint=release.root / "work" / f"train-{entry_id}.pt",
        progress=lambda s, t, _m: report(f"train SAE-{entry_id}", s, t),
    )
    trained = result.sae
    sae = SAE(
        SAEConfig(
            d_in=trained.cfg.d_in,
            d_sae=d_sae,
            architecture="batchtopk",
            k=k,
            hook_name=release.hook,
            model_name=release.model,
            context_size=release.context_size,
            extra={"convention": release.convention, "training": asdict(cfg)},
        ),
        device=trained.device,
    )
    sae.load_state_dict(trained.state_dict())
    metrics = {**reconstruction_metrics(sae, eval_x), **decoder_geometry(sae, result.init_decoder)}
    with torch.no_grad():
        density = (sae.encode(eval_x[:20_000].float().to(sae.device)) > 0).float().mean(dim=0)
    save_saelens(sae, Path(folder), log10_density=torch.log10(density.clamp_min(1e-10)))
    write_json_atomic(Path(folder) / METRICS, {**metrics, "train_tokens": len(train_x)})


def _train_meta(release: Release, profile: BuildProfile, eval_x: Tensor, report: Reporter) -> None:
    from backend.loading import load_sae

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
            release.root / "work" / f"train-{entry.id}.pt",
            lambda s, t, _m, name=entry.id: report(f"train {name}", s, t),  # type: ignore[misc]
        )
        metrics = {**base_metrics(result, base), **member_coherence(decompose_all(result.sae, base), base, eval_x)}
        save_meta(result, train_cfg, entry.over, folder, metrics)


def build_release(release: Release, profile_name: str = "default", report: Reporter | None = None) -> dict[str, Any]:
    """Build every missing piece of `release`; returns the metrics of each SAE and meta-SAE."""
    if not release.built:
        raise ValueError(f"Release {release.id!r} is not built locally (its source is not 'built').")
    profile = PROFILES[profile_name]
    report = report or _Tqdm()
    release.root.mkdir(parents=True, exist_ok=True)
    summary_path = release.root / "build.json"
    if summary_path.exists():
        summary: dict[str, Any] = json.loads(summary_path.read_text())
        if summary.get("complete") and summary.get("profile") == profile_name:
            return summary
    torch.manual_seed(profile.seed)
    lm = load_language_model(release.model, default_device())
    tokens = _corpus(release, lm, profile)
    acts = cached_activations(
        lm, tokens, release.hook, release.convention, release.root / "work" / "activations", profile.autocast,
        progress=lambda d, t: report("activations", d, t),
    )  # fmt: skip
    n_train = len(tokens) - profile.eval_contexts
    cap = norm_cap(acts[:n_train], tokens[:n_train], lm.bos_id, release.outlier_norm_multiple)
    train_x = token_vectors(acts[:n_train], tokens[:n_train], lm.bos_id, cap)
    eval_x = token_vectors(acts[n_train:], tokens[n_train:], lm.bos_id, cap)
    for number, entry in enumerate(release.saes):
        if not _done(Path(entry.location.path)) and entry.d_sae and entry.k:
            # Its own seed per size: with one seed, the data initialisation of every size would start
            # from the same inputs, and stitching would match latents by shared starting point.
            seed = profile.seed + len(release.saes) - 1 - number
            _train_member(entry.id, entry.d_sae, entry.k, train_x, eval_x, release, replace(profile, seed=seed), report)
    _train_meta(release, profile, eval_x, report)
    _index_all(release, lm, tokens[-profile.index_contexts :], acts[-profile.index_contexts :], cap, report)
    held = slice(max(n_train, len(tokens) - HELDOUT_CONTEXTS), None)  # what `heldout()` reads later
    compute_curves(release, CurveSettings(), lm, report, held_out_from(tokens[held], acts[held], lm.bos_id, cap))
    for entry in release.saes:
        latent_map(release, entry.id, report=report)
    summary = {
        "complete": True,
        "profile": profile_name,
        "norm_cap": cap,
        "tokens": {"train": len(train_x), "eval": len(eval_x), "contexts": len(tokens)},
        "excluded_fraction": 1 - (len(train_x) + len(eval_x)) / max(1, int((tokens != lm.bos_id).sum())),
        "metrics": {
            e.id: json.loads((Path(e.location.path) / METRICS).read_text()) for e in (*release.saes, *release.meta_saes)
        },
    }
    write_json_atomic(summary_path, summary)
    return summary


def _index_all(
    release: Release, lm: LanguageModel, tokens: Tensor, acts: Tensor, cap: float | None, report: Reporter
) -> None:
    from backend.loading import load_sae

    vocab = lm.vocab_strings()
    unembed = lm.unembedding()
    for entry in release.saes:
        sae = load_sae(release, entry.id, default_device()).sae
        build_index(
            sae,
            tokens,
            lambda start, batch: acts[start : start + len(batch)].float(),
            IndexConfig(norm_cap=cap, bos_id=lm.bos_id),
            release.root / "index" / entry.id,
            key=index_key(release, entry.id, len(tokens), cap),
            vocab=vocab,
            unembed=unembed,
            progress=lambda d, t, name=entry.id: report(f"index SAE-{name}", d, t),  # type: ignore[misc]
        )


def index_key(release: Release, sae_id: str, n_contexts: int, cap: float | None) -> dict[str, Any]:
    """What an index was produced from; an index with another key is rebuilt, never reused."""
    return {
        "release": release.id,
        "sae": sae_id,
        "model": release.model,
        "hook": release.hook,
        "convention": release.convention,
        "corpus": asdict(release.corpus),
        "contexts": n_contexts,
        "norm_cap": cap,
    }
