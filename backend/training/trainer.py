"""One trainer loop for every training objective (`backend.training.objectives`: the paper's ReLU + L1, BatchTopK,
Group Bias Adaptation); the loop names none of them.

Per step: dense pre-activations without gradient (bf16 on CPU, ~3x faster), then the entries the objective keeps
(those that can be non-zero after its activation: BatchTopK the top `k * batch` over the whole batch, ReLU every
positive one), and only those are recomputed in fp32 with gradient. That is the exact gradient (every other entry
is zero after the top-k or the ReLU, and so is its gradient), at a fraction of the cost. Decoding is a sparse
`embedding_bag`. Decoder rows stay unit norm (gradient parallel to each row removed before the step, rows
renormalised after). Dead latents get the auxiliary loss where the objective takes it: the top `aux_k` dead
pre-activations reconstruct the residual, weighted by `aux_coef`. The inference threshold is an exponential moving
average of the smallest kept activation. A loss that is not finite stops training with `TrainingDiverged`: an SAE
of NaNs is never saved.

On a GPU a step waits for the device only where the data decides a size (the kept entries; the auxiliary loss's
dead latents; BatchTopK's threshold): the loss's finiteness is read every `CHECK_SECONDS` and before saving, and
batches are sent without waiting (benchmarks/bench_train_syncs.py counts the waits).
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from backend.core.config import default_device, fast_bf16
from backend.core.errors import first_line
from backend.core.transfer import to_device
from backend.core.typed import Range, check_field_ranges, check_field_types, ranged
from backend.models.sae import SAE, SAEConfig
from backend.training.checkpoint import checked_tensor, load_checkpoint, save_checkpoint
from backend.training.divergence import Divergence
from backend.training.initialisation import calibrated_bias, calibration_bytes, diverse_rows
from backend.training.objectives import L1, Objective, Run, objective_from
from backend.training.sparse import KeptPre, decode_where, sparse_decode

ProgressFn = Callable[[int, int], object]
"""Told (steps done, total) after every step."""
LOG = logging.getLogger("sae_atlas")
CHECK_SECONDS = 0.25
"""The loss is checked for divergence at most this often (and before anything is saved): each check waits for the
device."""
STEP_BYTES = 16
"""Device bytes a step holds per entry of its `[batch, d_sae]` pre-activations: 10.5 measured (their bf16 and fp32
copies, the mask and order of the kept entries), and the auxiliary loss's copy of the dead latents' columns."""
WEIGHT_COPIES = 8
"""Float32 matrices of `[d_sae, d_in]` a run holds: encoder and decoder, each with its gradient and Adam's two
moments."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train one SAE: its size, its objective (`backend.training.objectives`), and the settings every
    objective shares, each with the range it is checked against."""

    d_sae: int = field(metadata={"range": Range(1, 1 << 24)})
    objective: Objective = field(default_factory=L1)
    batch_size: int = ranged(1024, 1, 1 << 20)
    lr: float = ranged(1e-3, 0, 1, low_open=True)
    epochs: float = ranged(1.0, 0, 10_000, low_open=True)
    decay_start: float = ranged(0.8, 0, 1)
    """Fraction of training after which the learning rate decays linearly to zero."""
    aux_k: int = ranged(32, 1, None)
    """Dead latents per token that reconstruct the residual in the auxiliary loss."""
    aux_coef: float = ranged(1 / 2, 0, 1e3)
    """Bussmann et al. use 1/32; in one short CPU epoch that left 19% of a 9216-latent SAE dead, 1/8
    (with aux_k 64 and a 20k-token window, as the build uses) 8%, 1/2 none, at the same FVU."""
    dead_after_tokens: int = ranged(20_000, 1, None)
    """A latent that has not fired for this many training tokens counts as dead."""
    threshold_momentum: float = ranged(0.99, 0, 1, high_open=True)
    data_init: bool = True
    """Initialise decoder rows at diverse centred inputs, which gives a dictionary that means
    something after a short run; random directions barely move in one epoch."""
    init_max_cosine: float = ranged(0.7, 0, 1, low_open=True)
    """Data initialisation avoids inputs closer than this (cosine) to an earlier pick."""
    init_encoder_scale: float | None = ranged(None, 0, 1e3, low_open=True)
    """Encoder rows start as this multiple of the decoder rows; None: the objective's choice."""
    seed: int = ranged(0, 0, (1 << 63) - 1)
    checkpoint_every: int = ranged(200, 1, None)
    bf16_select: bool = True
    """Pick the kept entries from bfloat16 pre-activations (values are then recomputed in fp32)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        check_field_ranges(self)
        if not isinstance(self.objective, Objective):
            raise ValueError(f"objective must be a training objective, got {self.objective!r:.40}.")
        self.objective.check(self.d_sae)

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> "TrainConfig":
        """From a flat table as a catalog writes it (`table()`); ValueError naming what is wrong."""
        objective, rest = objective_from(table)
        known = {item.name for item in fields(cls)} - {"objective"}
        for key in rest:
            if key not in known:
                raise ValueError(f"{key} is not a training setting; the shared ones are {', '.join(sorted(known))}.")
        return cls(objective=objective, **rest)

    def table(self) -> dict[str, Any]:
        """Flat, as a catalog writes it: the shared settings, `objective` and `<objective>_<setting>` for its own."""
        shared = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "objective"}
        return {**shared, **self.objective.table()}

    @property
    def encoder_scale(self) -> float:
        return self.init_encoder_scale if self.init_encoder_scale is not None else self.objective.encoder_scale()


def device_bytes(cfg: TrainConfig, d_in: int) -> int:
    """Device memory training `cfg` on `d_in`-wide inputs holds at its peak, a little over (measured on the CPU with
    the same code, tests/backend/training/test_trainer.py): the weights and their optimiser state, and the larger of
    the bias calibration at the start and one step. What a build on a GPU admits trainings run together by."""
    start = calibration_bytes(cfg.d_sae) if cfg.objective.start_bias(cfg.d_sae) is not None else 0
    return 4 * WEIGHT_COPIES * cfg.d_sae * d_in + max(start, STEP_BYTES * cfg.batch_size * cfg.d_sae)


@dataclass
class TrainResult:
    sae: SAE
    init_decoder: Tensor
    """Unit-norm decoder rows at initialisation `[d_sae, d_in]`, to measure how far training moved them."""
    scale: float
    """Input scale used in training (inputs were multiplied by it); already folded into `sae`."""


def _scale_factor(x: Tensor) -> float:
    """Scale so that the mean squared norm of the inputs equals d_in."""
    sample = x[: min(len(x), 50_000)].float()
    return math.sqrt(x.shape[1] / sample.pow(2).sum(dim=1).mean().item())


class _Weights(nn.Module):
    """Trainer-side parameters; the encoder is stored row-major (`enc [d_sae, d_in]` = W_enc.T) so
    that gathering the kept latents' rows is contiguous."""

    def __init__(self, d_in: int, d_sae: int, device: torch.device):
        super().__init__()
        self.enc = nn.Parameter(torch.zeros(d_sae, d_in, device=device))
        self.b_enc = nn.Parameter(torch.zeros(d_sae, device=device))
        self.dec = nn.Parameter(torch.zeros(d_sae, d_in, device=device))
        self.b_dec = nn.Parameter(torch.zeros(d_in, device=device))

    def encoder(self, cfg: TrainConfig) -> Tensor:
        """`[d_sae, d_in]` the rows that encode: the decoder's own when tied."""
        return self.dec if cfg.objective.tied else self.enc

    def to_sae(self, cfg: TrainConfig, threshold: float) -> SAE:
        d_sae, d_in = self.dec.shape
        objective = cfg.objective
        sae_cfg = SAEConfig(
            d_in=d_in, d_sae=d_sae, architecture=objective.architecture, k=objective.sae_k(),
            extra=objective.saved_config(d_sae),
        )  # fmt: skip
        sae = SAE(sae_cfg, device=self.dec.device)
        with torch.no_grad():
            sae.W_enc.copy_(self.encoder(cfg).T)
            sae.b_enc.copy_(self.b_enc)
            sae.W_dec.copy_(self.dec)
            sae.b_dec.copy_(self.b_dec)
            sae.threshold.fill_(threshold)
        return sae


def _init_weights(x: Tensor, cfg: TrainConfig, device: torch.device, gen: torch.Generator) -> _Weights:
    d_in = x.shape[1]
    weights = _Weights(d_in, cfg.d_sae, device)
    mean = x[: min(len(x), 50_000)].float().mean(dim=0).to(device)
    if cfg.data_init:
        dec = diverse_rows(x, mean, cfg.d_sae, cfg.init_max_cosine, gen).to(device)
        noise = torch.randn(dec.shape, generator=gen).to(device) / math.sqrt(d_in)
        dec += 0.1 * dec.norm(dim=1, keepdim=True).mean() * noise
    else:
        dec = torch.randn(cfg.d_sae, d_in, generator=gen).to(device)
    dec = dec / dec.norm(dim=1, keepdim=True)
    with torch.no_grad():
        weights.dec.copy_(dec)
        weights.enc.copy_(dec * cfg.encoder_scale)
        weights.b_dec.copy_(mean)
        density = cfg.objective.start_bias(cfg.d_sae)
        if density is not None:
            weights.b_enc.copy_(calibrated_bias(weights.encoder(cfg), weights.b_dec, x, density, gen))
    return weights


def _kept_pre(w: _Weights, enc: Tensor, x: Tensor, rows: Tensor, cols: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, cols, pre-activations) of the kept entries, sorted by (row, col), with gradient."""
    order = torch.argsort(rows * enc.shape[0] + cols)
    rows, cols = rows[order], cols[order]
    out: Tensor = KeptPre.apply(x - w.b_dec, enc, w.b_enc, rows, cols)
    return rows, cols, out


def _step_loss(
    w: _Weights,
    x: Tensor,
    cfg: TrainConfig,
    last_fired: Tensor,
    tokens_seen: int,
    threshold: Tensor,
    when: tuple[int, int],
    run: Run,
) -> tuple[Tensor, dict[str, Any]]:
    """The loss of one batch `x [batch, d_in]` at step `when = (step, total)`, and what the step updates from."""
    batch = x.shape[0]
    enc = w.encoder(cfg)
    with (
        torch.no_grad(),
        torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.bf16_select and fast_bf16(x.device)),
    ):
        pre_fast = ((x - w.b_dec) @ enc.T + w.b_enc).float()
    run.observe(pre_fast)
    rows, cols, pre = _kept_pre(w, enc, x, *cfg.objective.keep(pre_fast, threshold))
    vals = torch.relu(pre)
    recon = sparse_decode(w.dec, rows, cols, vals, batch) + w.b_dec
    err = x - recon
    mse = err.pow(2).sum(dim=1).mean()
    fit = cfg.objective.fit(err, cols, len(w.dec), lambda mask: decode_where(w.dec, rows, cols, vals, mask, batch))
    loss = mse if fit is None else fit
    penalty = cfg.objective.penalty(vals, batch, *when)
    loss = loss + penalty if penalty is not None else loss
    dead = (tokens_seen - last_fired) > cfg.dead_after_tokens
    n_dead = int(dead.sum()) if cfg.objective.auxiliary_loss else 0  # a wait on the device: only where it is used
    if n_dead > 0:
        # The top dead latents by pre-activation, negative ones included: a latent that never fires
        # usually has no positive pre-activation left, and a ReLU here would give it no gradient.
        dead_cols = dead.nonzero(as_tuple=True)[0]
        aux_cols = dead_cols[pre_fast[:, dead_cols].topk(min(cfg.aux_k, n_dead), dim=1).indices].flatten()
        aux_rows = torch.arange(batch, device=x.device).repeat_interleave(min(cfg.aux_k, n_dead))
        aux_rows, aux_cols, aux_act = _kept_pre(w, enc, x, aux_rows, aux_cols)
        aux_recon = sparse_decode(w.dec, aux_rows, aux_cols, aux_act, batch)
        residual = err.detach()
        aux = (aux_recon - residual).pow(2).sum(dim=1).mean() / residual.pow(2).sum(dim=1).mean().clamp_min(1e-8)
        loss = loss + cfg.aux_coef * aux * mse.detach()
    stats = {"cols": cols, "vals": vals.detach()}
    return loss, stats


def _batch(x: Tensor, idx: Tensor, scale: float, device: torch.device) -> Tensor:
    """`x[idx] * scale` in float32 on `device`; to a GPU as stored, without waiting for the copy."""
    return to_device(x[idx], device).float() * scale


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    decay_from = int(total * cfg.decay_start)
    if step < decay_from:
        return cfg.lr
    return cfg.lr * max(0.0, (total - step) / max(1, total - decay_from))


@torch.no_grad()
def _project_out_parallel_grad(w: _Weights) -> None:
    grad = w.dec.grad
    if grad is not None:
        grad -= (grad * w.dec).sum(dim=1, keepdim=True) * w.dec


@dataclass
class _Progress:
    """What a checkpoint holds besides the weights and the optimizer."""

    init_decoder: Tensor
    last_fired: Tensor
    threshold: Tensor
    objective: Run
    step: int = 0

    def state(self) -> dict[str, Any]:
        return {
            "init_decoder": self.init_decoder, "last_fired": self.last_fired, "threshold": self.threshold,
            "step": self.step, "objective": self.objective.state(),
        }  # fmt: skip

    def restore(self, state: dict[str, Any], device: torch.device) -> None:
        """Read `state` back (ValueError, KeyError or TypeError when its contents do not fit)."""
        self.init_decoder = checked_tensor(state, "init_decoder", self.init_decoder)
        self.last_fired = checked_tensor(state, "last_fired", self.last_fired).to(device)
        self.threshold = checked_tensor(state, "threshold", self.threshold).to(device)
        self.step = int(state["step"])
        self.objective.load(state["objective"])


def train_sae(
    x: Tensor,
    cfg: TrainConfig,
    checkpoint: Path | None = None,
    progress: ProgressFn | None = None,
    device: torch.device | None = None,
    data_key: str = "",
) -> TrainResult:
    """Train an SAE (`cfg.objective`) on `x [n, d_in]` (any float dtype, kept on CPU and batched to `device`).

    With `checkpoint`, state is saved every `cfg.checkpoint_every` steps and a rerun resumes from it;
    a corrupt or foreign checkpoint (another config, or another `data_key`: what `x` was made from) is
    discarded and training starts over.
    """
    device = device or default_device()
    gen = torch.Generator().manual_seed(cfg.seed)
    scale = _scale_factor(x)
    w = _init_weights(x * scale, cfg, device, gen)
    w.b_enc.requires_grad_(cfg.objective.learns_biases)
    w.b_dec.requires_grad_(cfg.objective.learns_biases)
    w.enc.requires_grad_(not cfg.objective.tied)
    opt = torch.optim.Adam([p for p in w.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.9, 0.999), fused=True)
    steps_per_epoch = max(1, len(x) // cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    run = _Progress(
        w.dec.detach().clone().cpu(),
        torch.zeros(cfg.d_sae, dtype=torch.long, device=device),
        torch.zeros((), device=device),
        cfg.objective.run(cfg.d_sae, device),
    )
    state = load_checkpoint(checkpoint, cfg, data_key) if checkpoint else None
    if state is not None and checkpoint is not None:
        try:
            w.load_state_dict(state["weights"])
            opt.load_state_dict(state["optimizer"])
            run.restore(state, device)
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            LOG.warning(
                "The training checkpoint %s is unusable (%s); it is discarded and training starts over.",
                checkpoint.name,
                first_line(err),
            )
            checkpoint.unlink(missing_ok=True)
            return train_sae(x, cfg, checkpoint, progress, device, data_key)
    perm: Tensor | None = None
    diverged, checked = Divergence(total, cfg.lr, device), time.monotonic()
    while run.step < total:
        step = run.step
        epoch, pos = divmod(step, steps_per_epoch)
        if perm is None or pos == 0:
            perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        idx = perm[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]
        xb = _batch(x, idx, scale, device)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, total, cfg)
        loss, stats = _step_loss(
            w, xb, cfg, run.last_fired, step * cfg.batch_size, run.threshold, (step, total), run.objective
        )
        diverged.see(loss, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _project_out_parallel_grad(w)
        opt.step()
        with torch.no_grad():
            w.dec.div_(w.dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
            run.last_fired[stats["cols"]] = (step + 1) * cfg.batch_size  # repeated columns write the same value
            if len(stats["vals"]):
                momentum = 0.0 if step == 0 else cfg.threshold_momentum
                run.threshold = momentum * run.threshold + (1 - momentum) * stats["vals"].min()
        run.objective.after_step(w.b_enc.data)
        run.step += 1
        if time.monotonic() - checked >= CHECK_SECONDS:
            diverged.check()
            checked = time.monotonic()
        if progress:
            progress(run.step, total)
        if checkpoint and (run.step % cfg.checkpoint_every == 0 or run.step == total):
            diverged.check()
            save_checkpoint(
                checkpoint,
                {
                    "config": asdict(cfg), "data": data_key, "weights": w.state_dict(), "optimizer": opt.state_dict(),
                    **run.state(),
                },
            )  # fmt: skip
    diverged.check()
    return TrainResult(fold_input_scale(w.to_sae(cfg, float(run.threshold)), scale), run.init_decoder, scale)


@torch.no_grad()
def fold_input_scale(sae: SAE, scale: float) -> SAE:
    """An SAE trained on `x * scale` turned into one that reads `x` directly.

    Decoder rows stay unit norm and activations come out in the units of `x`: the biases and the
    threshold are divided by `scale` (ReLU and JumpReLU are positively homogeneous)."""
    sae.b_enc.div_(scale)
    sae.b_dec.div_(scale)
    sae.threshold.div_(scale)
    return sae
