"""The artifacts a build makes per member of the family: each SAE (`TrainedSAE`), each meta-SAE (`TrainedMeta`)
and each SAE's index over the family's data (`family_index`). A member whose inputs differ from what produced its
files is trained or indexed again, never reused, and its meta-SAEs go with it.

What their keys name: an SAE's `cfg.json` records its trainer settings (`training`) and what its data was made
from (`data`: corpus, split, hook, outlier rule); a meta-SAE's `Config.json` records its trainer settings and the
digest of the SAE whose rows it read; an index's key names the SAE's digest, the contexts and the norm cap
(backend/index/release.py). Folders built before `data` was recorded are judged on their trainer settings alone.
"""

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from backend.core.artifacts import Artifact, canonical, json_field
from backend.core.config import default_device
from backend.core.errors import CatalogError, first_line
from backend.core.files import write_json_atomic
from backend.core.progress import Reporter, silent
from backend.core.transfer import to_device
from backend.index.artifact import LatentIndex
from backend.index.build import as_stored
from backend.index.plan import IndexConfig, IndexPlan
from backend.index.release import index_key
from backend.metasae.decompose import decompose_all
from backend.models.formats import (
    METRICS,
    PAPER_CFG,
    PREFIXES,
    SAELENS_CFG,
    log10_density,
    save_saelens,
)
from backend.models.headers import weights_complete
from backend.models.language import LanguageModel
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.pipeline.family_data import FamilyData
from backend.sources.release import MetaEntry, Release, SAEEntry
from backend.training.meta import OVER_DIGEST, MetaTrainConfig, base_metrics, fit_meta, meta_train_config, save_meta
from backend.training.metrics import decoder_geometry, member_coherence, reconstruction_metrics
from backend.training.trainer import TrainConfig, device_bytes, train_sae

DENSITY_BATCH = 4096
LOG = logging.getLogger("sae_atlas")


BUILD_SETTINGS = ("d_sae", "epochs", "batch_size", "seed")
"""Training settings the build sets (from the SAE's entry and the profile), never a catalog's `training` table."""


def train_config(release: Release, entry: SAEEntry, epochs: float, batch_size: int, seed: int) -> TrainConfig:
    """The trainer's settings for one SAE of the family: the release's recipe at this profile's budget (an entry's
    `k` is its objective's `k`). CatalogError naming the setting and its range when they cannot train."""
    assert entry.d_sae is not None
    table = dict(release.training)
    fail = f"Release {release.id!r}: its training table cannot train SAE {entry.id}"
    for key in BUILD_SETTINGS:
        if key in table:
            raise CatalogError(f"{fail}: {key} is set by the build (the SAE's entry or the profile), not there.")
    if entry.k is not None:
        table[f"{table.get('objective')}_k"] = entry.k
    if (widths := release.widths(entry.id)) is not None:  # a nested objective's prefixes: refused by the others
        table[f"{table.get('objective')}_widths"] = list(widths)
    try:
        return TrainConfig.from_table(
            {**table, "d_sae": entry.d_sae, "epochs": epochs, "batch_size": batch_size, "seed": seed}
        )
    except (TypeError, ValueError) as err:
        raise CatalogError(f"{fail}: {first_line(err)}") from err


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def trained(folder: Path) -> bool:
    """A trained SAE or meta-SAE is finished in `folder`: its metrics (written last) and a whole weights file."""
    return (folder / METRICS).exists() and weights_complete(folder)


def _trained_key(folder: Path, config: str, input_field: str, current_input: str) -> str | None:
    """The key of a trained folder: its trainer settings and its input (None before its metrics are written, and
    when its weights file is missing or truncated: the build owns it and trains it again)."""
    if not (folder / METRICS).exists():
        return None
    if not trained(folder):
        LOG.warning("%s: its weights file is missing or truncated; the build trains it again.", folder.name)
        return None
    stored_input = json_field(folder / config, input_field)
    return canonical({"training": json_field(folder / config, "training"), "input": stored_input or current_input})


class TrainedSAE(Artifact[Path]):
    """One SAE of the family trained on the family's data, in the SAELens layout with its metrics."""

    def __init__(
        self,
        release: Release,
        entry: SAEEntry,
        cfg: TrainConfig,
        data_key: str,
        data: Callable[[], FamilyData],
        together: bool = False,
    ):
        self.release, self.entry, self.cfg, self.data_key, self._data = release, entry, cfg, data_key, data
        self.together = together

    @property
    def name(self) -> str:
        return f"train SAE-{self.entry.id}"

    @property
    def folder(self) -> Path:
        return Path(self.entry.location.path)

    def files(self) -> list[Path]:
        return _folder_files(self.folder)

    def finished(self) -> bool:
        return trained(self.folder)

    def key(self) -> str:
        return canonical({"training": as_stored(self.cfg.table()), "input": self.data_key})

    def stored_key(self) -> str | None:
        return _trained_key(self.folder, SAELENS_CFG, "data", self.data_key)

    def load(self) -> Path:
        return self.folder

    def device_bytes(self) -> int:
        return device_bytes(self.cfg, self._data().train_x.shape[1])

    def compute(self, report: Reporter = silent) -> Path:
        """Train, save with its metrics, and retire the meta-SAEs read from its predecessor."""
        release, entry, data, cfg = self.release, self.entry, self._data(), self.cfg
        result = train_sae(
            data.train_x,
            cfg,
            checkpoint=release.paths.checkpoint(entry.id),
            progress=lambda s, t: report(self.name, s, t),
            data_key=data.key,
        )
        trained = result.sae
        extra = {**trained.cfg.extra, "convention": release.convention, "training": cfg.table(), "data": data.key}
        sae = SAE(
            replace(
                trained.cfg, hook_name=release.hook, model_name=release.model, context_size=release.context_size,
                extra=extra,
            ),
            device=trained.device,
        )  # fmt: skip
        sae.load_state_dict(trained.state_dict())
        metrics: dict[str, object] = {
            **reconstruction_metrics(sae, data.eval_x),
            **decoder_geometry(sae, result.init_decoder),
        }
        if (widths := release.widths(entry.id)) is not None:
            metrics[PREFIXES] = {
                str(w): _prefix_metrics(sae.prefix(w), data.eval_x, result.init_decoder) for w in widths
            }
        save_saelens(sae, self.folder, log10_density=log10_density(_density(sae, data.eval_x)))
        write_json_atomic(self.folder / METRICS, {**metrics, "train_tokens": len(data.train_x)})
        for meta in release.meta_for(entry.id):
            (Path(meta.location.path) / METRICS).unlink(missing_ok=True)
        return self.folder


def _prefix_metrics(prefix: SAE, eval_x: Tensor, init_decoder: Tensor | None) -> dict[str, float]:
    """What the build measures of an SAE, for one prefix of a Matryoshka SAE (its first latents' share of it)."""
    init = init_decoder[: prefix.cfg.d_sae] if init_decoder is not None else None
    return {**reconstruction_metrics(prefix, eval_x), **decoder_geometry(prefix, init)}


@torch.no_grad()
def _density(sae: SAE, x: Tensor) -> Tensor:
    """`[d_sae]` fraction of the tokens of `x [n, d_in]` on which each latent fires (all of them: a
    latent that fires once in 75k tokens is rare, not dead)."""
    fired = torch.zeros(sae.cfg.d_sae, device=sae.device)
    for start in range(0, len(x), DENSITY_BATCH):
        fired += (sae.encode(x[start : start + DENSITY_BATCH].float().to(sae.device)) > 0).sum(dim=0)
    return (fired / max(1, len(x))).cpu()


class TrainedMeta(Artifact[Path]):
    """One meta-SAE trained on its SAE's decoder rows; `eval_x()` (held-out activations, for coherence) is called
    only when it trains."""

    def __init__(self, release: Release, entry: MetaEntry, cfg: MetaTrainConfig, eval_x: Callable[[], Tensor]):
        self.release, self.entry, self.cfg, self._eval_x = release, entry, cfg, eval_x

    @property
    def name(self) -> str:
        return f"train {self.entry.id}"

    @property
    def folder(self) -> Path:
        return Path(self.entry.location.path)

    @cached_property
    def _base(self) -> SAE:
        return load_sae(self.release, self.entry.over, default_device()).sae

    @cached_property
    def _base_digest(self) -> str:
        return self._base.digest()

    def files(self) -> list[Path]:
        return _folder_files(self.folder)

    def key(self) -> str:
        training = as_stored(meta_train_config(self.cfg, self._base.cfg.d_sae).table())
        return canonical({"training": training, "input": self._base_digest})

    def stored_key(self) -> str | None:
        return _trained_key(self.folder, PAPER_CFG, OVER_DIGEST, self._base_digest)

    def load(self) -> Path:
        return self.folder

    def compute(self, report: Reporter = silent) -> Path:
        base = self._base
        result, train_cfg = fit_meta(
            base, self.cfg, self.release.paths.checkpoint(self.entry.id), lambda s, t: report(self.name, s, t)
        )
        metrics = {
            **base_metrics(result, base),
            **member_coherence(decompose_all(result.sae, base), base, self._eval_x()),
        }
        save_meta(result, train_cfg, self.entry.over, self.folder, metrics, self._base_digest)
        return self.folder


def family_index(
    release: Release,
    entry: SAEEntry,
    contexts: int,
    lm: Callable[[], LanguageModel],
    data: Callable[[], FamilyData],
    cap: Callable[[], tuple[float | None] | None],
) -> LatentIndex:
    """The SAE's index over the last `contexts` contexts of the family's data. `cap()` is the norm cap when it is
    known without loading the data (None otherwise); the activations are read only when the index is rebuilt."""

    def sae() -> SAE:
        return load_sae(release, entry.id, default_device()).sae

    def key() -> dict[str, object]:
        known = cap()
        return index_key(release, entry.id, sae().digest(), contexts, (known or (data().cap,))[0])

    def plan() -> IndexPlan:
        d, model = data(), lm()
        tokens, acts = d.tokens[-contexts:], d.acts[-contexts:]
        return IndexPlan(
            sae(), tokens, lambda start, batch: to_device(acts[start : start + len(batch)], batch.device).float(),
            IndexConfig(norm_cap=d.cap, bos_id=model.bos_id), release.paths.index(entry.id), as_stored(key()),
            model.vocab_strings(), model.unembedding(),
        )  # fmt: skip

    return LatentIndex(release.paths.index(entry.id), entry.id, plan=plan, key=key)
