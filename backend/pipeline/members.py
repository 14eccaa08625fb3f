"""The work a build does per member of the family (each SAE, each meta-SAE), and whether what is on disk is
current: produced by these very settings from this very data. A member whose inputs differ from what
produced its files is trained or indexed again, never reused, and its meta-SAEs go with it.

What "current" compares: an SAE's `cfg.json` records its trainer settings (`training`) and what its
data was made from (`data`: corpus, split, hook, outlier rule); a meta-SAE's `Config.json` records its
trainer settings and the digest of the SAE whose rows it read; an index's key names the SAE's digest,
the contexts and the norm cap (backend/index/release.py). Folders built before `data` was recorded are
judged on their trainer settings alone.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from backend.core.config import default_device
from backend.core.errors import CatalogError
from backend.core.files import write_json_atomic
from backend.core.progress import Reporter
from backend.index.build import IndexConfig, as_stored, build_index, finished_index
from backend.index.release import index_key
from backend.metasae.decompose import decompose_all
from backend.models.formats import PAPER_CFG, SAELENS_CFG, save_saelens
from backend.models.language import LanguageModel
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.sources.catalog import MetaEntry, Release, SAEEntry
from backend.training.meta import OVER_DIGEST, MetaTrainConfig, base_metrics, fit_meta, meta_train_config, save_meta
from backend.training.metrics import decoder_geometry, member_coherence, reconstruction_metrics
from backend.training.trainer import TrainConfig, train_sae

METRICS = "metrics.json"
DENSITY_BATCH = 4096


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


def _read_config(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) else {}


def sae_is_current(entry: SAEEntry, cfg: TrainConfig, data_key: str) -> bool:
    """Whether `entry`'s folder holds an SAE trained with `cfg` on the data named by `data_key`."""
    folder = Path(entry.location.path)
    if not (folder / METRICS).exists():
        return False
    raw = _read_config(folder / SAELENS_CFG)
    return raw.get("training") == as_stored(asdict(cfg)) and raw.get("data", data_key) == data_key


def meta_is_current(entry: MetaEntry, cfg: TrainConfig, over_digest: str) -> bool:
    """Whether `entry`'s folder holds a meta-SAE trained with `cfg` on the SAE whose digest is `over_digest`."""
    folder = Path(entry.location.path)
    if not (folder / METRICS).exists():
        return False
    raw = _read_config(folder / PAPER_CFG)
    return raw.get("training") == as_stored(asdict(cfg)) and raw.get(OVER_DIGEST, over_digest) == over_digest


def train_config(release: Release, entry: SAEEntry, epochs: float, batch_size: int, seed: int) -> TrainConfig:
    """The trainer's settings for one SAE of the family: the release's recipe at this profile's budget."""
    assert entry.d_sae is not None
    try:
        return TrainConfig(
            d_sae=entry.d_sae, k=entry.k, **release.training, epochs=epochs, batch_size=batch_size, seed=seed
        )
    except (TypeError, ValueError) as err:
        raise CatalogError(f"Release {release.id!r}: its training settings cannot train SAE {entry.id}: {err}") from err


def train_member(release: Release, entry: SAEEntry, data: FamilyData, cfg: TrainConfig, report: Reporter) -> None:
    """Train one SAE of the family, save it with its metrics, and retire the meta-SAEs read from its predecessor."""
    folder = Path(entry.location.path)
    result = train_sae(
        data.train_x,
        cfg,
        checkpoint=release.paths.checkpoint(entry.id),
        progress=lambda s, t, _m: report(f"train SAE-{entry.id}", s, t),
        data_key=data.key,
    )
    trained = result.sae
    sae = SAE(
        replace(
            trained.cfg,
            hook_name=release.hook,
            model_name=release.model,
            context_size=release.context_size,
            extra={"convention": release.convention, "training": asdict(cfg), "data": data.key},
        ),
        device=trained.device,
    )
    sae.load_state_dict(trained.state_dict())
    metrics = {**reconstruction_metrics(sae, data.eval_x), **decoder_geometry(sae, result.init_decoder)}
    save_saelens(sae, folder, log10_density=torch.log10(_density(sae, data.eval_x).clamp_min(1e-10)))
    write_json_atomic(folder / METRICS, {**metrics, "train_tokens": len(data.train_x)})
    for meta in release.meta_for(entry.id):
        (Path(meta.location.path) / METRICS).unlink(missing_ok=True)


@torch.no_grad()
def _density(sae: SAE, x: Tensor) -> Tensor:
    """`[d_sae]` fraction of the tokens of `x [n, d_in]` on which each latent fires (all of them: a
    latent that fires once in 75k tokens is rare, not dead)."""
    fired = torch.zeros(sae.cfg.d_sae, device=sae.device)
    for start in range(0, len(x), DENSITY_BATCH):
        fired += (sae.encode(x[start : start + DENSITY_BATCH].float().to(sae.device)) > 0).sum(dim=0)
    return (fired / max(1, len(x))).cpu()


def train_meta_member(
    release: Release, entry: MetaEntry, cfg: MetaTrainConfig, eval_x: Callable[[], Tensor], report: Reporter
) -> bool:
    """Train one meta-SAE unless it is current; `eval_x()` (the held-out activations, for coherence) is only
    called when it trains. Returns whether it trained."""
    base = load_sae(release, entry.over, default_device()).sae
    digest = base.digest()
    if meta_is_current(entry, meta_train_config(cfg, base.cfg.d_sae), digest):
        return False
    result, train_cfg = fit_meta(
        base, cfg, release.paths.checkpoint(entry.id), lambda s, t, _m: report(f"train {entry.id}", s, t)
    )
    metrics = {**base_metrics(result, base), **member_coherence(decompose_all(result.sae, base), base, eval_x())}
    save_meta(result, train_cfg, entry.over, Path(entry.location.path), metrics, digest)
    return True


@dataclass(frozen=True)
class IndexJob:
    """One SAE's index over the last `contexts` contexts of the family's data."""

    entry: SAEEntry
    contexts: int

    def key(self, release: Release, sae: SAE, cap: float | None) -> dict[str, Any]:
        return index_key(release, self.entry.id, sae.digest(), self.contexts, cap)

    def is_current(self, release: Release, sae: SAE, cap: float | None) -> bool:
        return finished_index(release.paths.index(self.entry.id), self.key(release, sae, cap))

    def run(self, release: Release, sae: SAE, lm: LanguageModel, data: FamilyData, report: Reporter) -> None:
        tokens, acts = data.tokens[-self.contexts :], data.acts[-self.contexts :]
        build_index(
            sae,
            tokens,
            lambda start, batch: acts[start : start + len(batch)].float(),
            IndexConfig(norm_cap=data.cap, bos_id=lm.bos_id),
            release.paths.index(self.entry.id),
            key=self.key(release, sae, data.cap),
            vocab=lm.vocab_strings(),
            unembed=lm.unembedding(),
            progress=lambda d, t: report(f"index SAE-{self.entry.id}", d, t),
        )
