"""Train a meta-SAE on the unit-norm decoder rows of any SAE, save it in the paper's layout, and
register it next to its SAE so the app browses it like a shipped one."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.config import default_device
from backend.core.errors import AtlasError
from backend.core.files import write_json_atomic
from backend.models.formats import METRICS, save_paper_meta
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.sources.catalog import register_meta_sae
from backend.sources.release import Release
from backend.training.metrics import decoder_geometry, meta_variance_explained
from backend.training.objectives import BatchTopK
from backend.training.trainer import ProgressFn, TrainConfig, TrainResult, train_sae

MAX_EPOCHS = 2000


@dataclass(frozen=True)
class MetaTrainConfig:
    d_meta: int
    """Meta-latents (the paper: about d_sae / 21)."""
    k: int = 4
    epochs: float = 200
    lr: float = 3e-3
    batch_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value in (("d_meta", self.d_meta), ("k", self.k), ("batch_size", self.batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise AtlasError(f"A meta-SAE's {name} must be a positive whole number, got {value!r}.")
        if self.k > self.d_meta:
            raise AtlasError(f"k ({self.k}) cannot exceed the number of meta-latents ({self.d_meta}).")
        if not 0 < self.epochs <= MAX_EPOCHS:
            raise AtlasError(f"Epochs must be above 0 and at most {MAX_EPOCHS}, got {self.epochs}.")
        if not 0 < self.lr < 1:
            raise AtlasError(f"The learning rate must be between 0 and 1, got {self.lr}.")


def meta_train_config(cfg: MetaTrainConfig, n_rows: int) -> TrainConfig:
    """The trainer's settings for a meta-SAE over `n_rows` decoder rows."""
    return TrainConfig(
        d_sae=cfg.d_meta,
        objective=BatchTopK(k=cfg.k),
        lr=cfg.lr,
        epochs=cfg.epochs,
        batch_size=min(cfg.batch_size, n_rows),
        aux_k=min(16, cfg.d_meta // 2),
        dead_after_tokens=4 * n_rows,
        checkpoint_every=1000,
        # Data initialisation would start each meta-latent at one member latent, a mixture of
        # concepts; random directions un-mix into the shared components (tests/backend/training/test_trainer.py: test_meta_sae_recovers_planted_compositions).
        data_init=False,
        seed=cfg.seed,
    )


def fit_meta(
    base: SAE, cfg: MetaTrainConfig, checkpoint: Path | None, progress: ProgressFn | None
) -> tuple[TrainResult, TrainConfig]:
    """A BatchTopK meta-SAE on `base`'s unit-norm decoder rows."""
    rows = base.unit_decoder().detach().cpu()
    train_cfg = meta_train_config(cfg, len(rows))
    result = train_sae(rows, train_cfg, checkpoint, progress, default_device(), data_key=base.digest())
    return result, train_cfg


OVER_DIGEST = "over_digest"
"""Config.json field: the digest of the SAE whose decoder rows the meta-SAE was trained on."""


def save_meta(
    result: TrainResult, train_cfg: TrainConfig, over: str, folder: Path, metrics: dict[str, Any], over_digest: str
) -> None:
    save_paper_meta(
        result.sae,
        folder,
        {
            "top_k": train_cfg.objective.sae_k(),
            "sae_type": "batchtopk",
            "threshold": float(result.sae.threshold[0]),
            "input": f"unit-norm decoder rows of SAE {over}",
            "input_unit_norm": False,
            "training": train_cfg.table(),
            OVER_DIGEST: over_digest,
        },
    )
    write_json_atomic(folder / METRICS, metrics)


def base_metrics(result: TrainResult, base: SAE) -> dict[str, float]:
    rows = base.unit_decoder().detach().to(result.sae.device)
    return {
        "variance_explained": meta_variance_explained(result.sae, rows),
        **decoder_geometry(result.sae, result.init_decoder),
    }


def train_meta_for(release: Release, sae_id: str, cfg: MetaTrainConfig, progress: ProgressFn | None = None) -> str:
    """Train, save under the release's data folder, register; returns the new meta-SAE's id."""
    release.family_sae(sae_id)
    base = load_sae(release, sae_id, default_device()).sae
    if cfg.d_meta > base.cfg.d_sae // 2:
        raise AtlasError(
            f"{cfg.d_meta} meta-latents for {base.cfg.d_sae} latents is not a decomposition: use at most "
            f"{base.cfg.d_sae // 2} (the paper: about d_sae / 21)."
        )
    meta_id = f"meta-{sae_id}-{cfg.d_meta}"
    folder = release.paths.folder(meta_id)
    result, train_cfg = fit_meta(base, cfg, release.paths.checkpoint(meta_id), progress)
    save_meta(result, train_cfg, sae_id, folder, base_metrics(result, base), base.digest())
    register_meta_sae(
        release.id,
        {"id": meta_id, "over": sae_id, "path": str(folder), "layout": "paper-meta", "d_sae": cfg.d_meta, "k": cfg.k},
    )
    return meta_id
