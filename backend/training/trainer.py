"""One trainer for three ways of training an SAE: BatchTopK (Bussmann et al. 2024), the paper's standard ReLU SAE
with an L1 penalty (the GPT-2 family Leask et al. stitch), and a ReLU SAE whose encoder biases are steered by Group
Bias Adaptation instead of a penalty (`backend.training.bias_adaptation`; saved as a standard SAE).

Per step: dense pre-activations without gradient (bf16 on CPU, ~3x faster), then the entries that
can be nonzero are kept (BatchTopK: the top `k * batch` over the whole batch; ReLU: every positive
one) and only those are recomputed in fp32 with gradient. That is the exact gradient (every other
entry is zero after the top-k or the ReLU, and so is its gradient), at a fraction of the cost. Decoding is
a sparse `embedding_bag`. Decoder rows stay unit norm (gradient parallel to each row removed before
the step, rows renormalised after). Dead latents get the auxiliary loss: the top `aux_k` dead
pre-activations reconstruct the residual, weighted by `aux_coef`. The inference threshold is an
exponential moving average of the smallest kept activation. The L1 penalty is on activations
(decoder rows are unit norm, so this is Anthropic's activation x decoder-norm penalty), its
coefficient ramped up linearly over the first `l1_warmup` of training. GBA trains on reconstruction alone: its
encoder is its decoder (tied, by default), its encoder biases and b_dec take no gradient, and there is no
auxiliary loss (a silent latent is re-activated through its bias).
"""

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from backend.core.config import default_device, fast_bf16
from backend.core.errors import first_line
from backend.core.typed import check_field_types
from backend.models.sae import SAE, SAEConfig
from backend.training.bias_adaptation import FiringWindow, GroupTargets, adapt_biases
from backend.training.checkpoint import checked_tensor, load_checkpoint, save_checkpoint
from backend.training.initialisation import calibrated_bias, diverse_rows
from backend.training.sparse import KeptPre, select_positive, select_top, sparse_decode

ProgressFn = Callable[[int, int, dict[str, float]], object]
LOG = logging.getLogger("sae_atlas")
TrainArchitecture = Literal["batchtopk", "standard", "gba"]
GBA_DEFAULTS = GroupTargets()


@dataclass(frozen=True)
class TrainConfig:
    d_sae: int
    k: int | None = None
    """BatchTopK: active latents per token. Standard: unused (sparsity comes from `l1_coef`)."""
    architecture: TrainArchitecture = "batchtopk"
    l1_coef: float = 0.0
    """Standard SAEs: L1 penalty on activations, in units where inputs have mean squared norm d_in."""
    gba_groups: int = GBA_DEFAULTS.groups
    """GBA: groups of latents, each with its own target activation frequency."""
    gba_highest: float = GBA_DEFAULTS.highest
    gba_lowest: float = GBA_DEFAULTS.lowest
    """GBA: the targets run geometrically from `gba_highest` to `gba_lowest` (fractions of tokens)."""
    gba_step: float = 0.01
    """GBA: an above-target latent's bias falls by this multiple of its largest pre-activation in the window."""
    gba_window: int = 40_960
    """GBA: training tokens over which firing is counted before each bias adaptation."""
    gba_tied: bool = True
    """GBA: the encoder is the decoder (unit-norm rows), as in the paper's model (this project's reading of it);
    untied, on planted features, it recovers fewer (benchmarks/bench_gba.py prints both)."""
    l1_warmup: float = 0.05
    """Fraction of training over which the L1 coefficient rises linearly from zero."""
    init_l0: int | None = 64
    """Standard SAEs: each encoder bias starts at the quantile of its latent's pre-activations (on a
    sample of inputs) that makes it fire on `init_l0 / d_sae` of them, so training starts at L0 about
    `init_l0` instead of d_sae / 2 (which makes early steps dense and slow). None: biases start at 0."""
    init_encoder_scale: float | None = None
    """Encoder rows start as this multiple of the decoder rows; None: 1/k (BatchTopK), 0.1 (standard)."""
    batch_size: int = 1024
    lr: float = 1e-3
    epochs: float = 1.0
    decay_start: float = 0.8
    """Fraction of training after which the learning rate decays linearly to zero."""
    aux_k: int = 32
    """Dead latents per token that reconstruct the residual in the auxiliary loss."""
    aux_coef: float = 1 / 2
    """Bussmann et al. use 1/32; in one short CPU epoch that left 19% of a 9216-latent SAE dead, 1/8
    (with aux_k 64 and a 20k-token window, as the build uses) 8%, 1/2 none, at the same FVU."""
    dead_after_tokens: int = 20_000
    """A latent that has not fired for this many training tokens counts as dead."""
    threshold_momentum: float = 0.99
    data_init: bool = True
    """Initialise decoder rows at diverse centred inputs, which gives a dictionary that means
    something after a short run; random directions barely move in one epoch."""
    init_max_cosine: float = 0.7
    """Data initialisation avoids inputs closer than this (cosine) to an earlier pick."""
    seed: int = 0
    checkpoint_every: int = 200
    bf16_select: bool = True
    """Pick the kept entries from bfloat16 pre-activations (values are then recomputed in fp32)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.architecture == "batchtopk" and not (self.k and 0 < self.k <= self.d_sae):
            raise ValueError(f"A BatchTopK SAE needs 0 < k <= d_sae, got k={self.k}.")
        if self.architecture == "standard" and not self.l1_coef > 0:
            raise ValueError(f"A standard SAE needs a positive l1_coef, got {self.l1_coef}.")
        if self.architecture == "gba":
            self.group_targets  # noqa: B018 (refuses impossible targets now, not at the first step)
            if not (self.gba_step > 0 and self.gba_window > 0):
                raise ValueError(
                    f"GBA needs a positive gba_step and gba_window, got {self.gba_step}, {self.gba_window}."
                )

    @property
    def group_targets(self) -> GroupTargets:
        return GroupTargets(self.gba_groups, self.gba_highest, self.gba_lowest)

    @property
    def tied(self) -> bool:
        return self.architecture == "gba" and self.gba_tied

    @property
    def encoder_scale(self) -> float:
        if self.init_encoder_scale is not None:
            return self.init_encoder_scale
        return 1 / self.k if self.architecture == "batchtopk" and self.k else 0.1


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
        return self.dec if cfg.tied else self.enc

    def to_sae(self, cfg: TrainConfig, threshold: float) -> SAE:
        d_sae, d_in = self.dec.shape
        k = cfg.k if cfg.architecture == "batchtopk" else None
        # A GBA SAE encodes as ReLU(W_enc x + b_enc): a standard SAE that was trained another way.
        arch = "standard" if cfg.architecture == "gba" else cfg.architecture
        extra = {"trained_as": {"architecture": "gba"}} if cfg.architecture == "gba" else {}
        sae = SAE(SAEConfig(d_in=d_in, d_sae=d_sae, architecture=arch, k=k, extra=extra), device=self.dec.device)
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
        # BatchTopK: scaled so the k active latents of a token add up to roughly one input, not k of them.
        weights.enc.copy_(dec * cfg.encoder_scale)
        weights.b_dec.copy_(mean)
        if cfg.architecture == "standard" and cfg.init_l0:
            density = torch.full((cfg.d_sae,), cfg.init_l0 / cfg.d_sae)
            weights.b_enc.copy_(calibrated_bias(weights.enc, weights.b_dec, x, density, gen))
        if cfg.architecture == "gba":
            targets = cfg.group_targets.per_latent(cfg.d_sae)
            weights.b_enc.copy_(calibrated_bias(weights.encoder(cfg), weights.b_dec, x, targets, gen))
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
    floor: float,
    l1: float,
    window: FiringWindow | None,
) -> tuple[Tensor, dict[str, Any]]:
    batch = x.shape[0]
    enc = w.encoder(cfg)
    with (
        torch.no_grad(),
        torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.bf16_select and fast_bf16(x.device)),
    ):
        pre_fast = ((x - w.b_dec) @ enc.T + w.b_enc).float()
    if window is not None:
        window.add(pre_fast)
    if cfg.architecture == "batchtopk":
        assert cfg.k is not None
        kept = select_top(pre_fast, cfg.k * batch, floor)
    else:
        kept = select_positive(pre_fast)
    rows, cols, pre = _kept_pre(w, enc, x, *kept)
    vals = torch.relu(pre)
    recon = sparse_decode(w.dec, rows, cols, vals, batch) + w.b_dec
    err = x - recon
    mse = err.pow(2).sum(dim=1).mean()
    loss = mse + l1 * vals.sum() / batch if l1 > 0 else mse
    dead = (tokens_seen - last_fired) > cfg.dead_after_tokens
    n_dead = int(dead.sum())
    if n_dead > 0 and cfg.architecture != "gba":
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
    stats = {"cols": cols, "vals": vals.detach(), "mse": mse.detach(), "n_dead": n_dead}
    return loss, stats


def _l1_at(step: int, total: int, cfg: TrainConfig) -> float:
    warmup = cfg.l1_warmup * total
    return cfg.l1_coef * min(1.0, (step + 1) / warmup) if warmup > 0 else cfg.l1_coef


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
    window: FiringWindow | None
    step: int = 0

    def state(self) -> dict[str, Any]:
        window = self.window.state() if self.window is not None else {}
        return {
            "init_decoder": self.init_decoder, "last_fired": self.last_fired, "threshold": self.threshold,
            "step": self.step, "window": window,
        }  # fmt: skip

    def restore(self, state: dict[str, Any], device: torch.device) -> None:
        """Read `state` back (ValueError, KeyError or TypeError when its contents do not fit)."""
        self.init_decoder = checked_tensor(state, "init_decoder", self.init_decoder)
        self.last_fired = checked_tensor(state, "last_fired", self.last_fired).to(device)
        self.threshold = checked_tensor(state, "threshold", self.threshold).to(device)
        self.step = int(state["step"])
        if self.window is not None:
            self.window.load(state["window"])


def train_sae(
    x: Tensor,
    cfg: TrainConfig,
    checkpoint: Path | None = None,
    progress: ProgressFn | None = None,
    device: torch.device | None = None,
    data_key: str = "",
) -> TrainResult:
    """Train an SAE (`cfg.architecture`) on `x [n, d_in]` (any float dtype, kept on CPU and batched to `device`).

    With `checkpoint`, state is saved every `cfg.checkpoint_every` steps and a rerun resumes from it;
    a corrupt or foreign checkpoint (another config, or another `data_key`: what `x` was made from) is
    discarded and training starts over.
    """
    device = device or default_device()
    gen = torch.Generator().manual_seed(cfg.seed)
    scale = _scale_factor(x)
    w = _init_weights(x * scale, cfg, device, gen)
    gba = cfg.architecture == "gba"
    if gba:
        # The adapted biases are thresholds measured from b_dec; a learned b_dec moves that origin under them (on
        # planted data it drifted and halved the features recovered), so GBA keeps it at the data mean.
        w.b_enc.requires_grad_(False)
        w.b_dec.requires_grad_(False)
        w.enc.requires_grad_(not cfg.tied)
    opt = torch.optim.Adam([p for p in w.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.9, 0.999), fused=True)
    steps_per_epoch = max(1, len(x) // cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    run = _Progress(
        w.dec.detach().clone().cpu(),
        torch.zeros(cfg.d_sae, dtype=torch.long, device=device),
        torch.zeros((), device=device),
        FiringWindow(cfg.d_sae, device) if gba else None,
    )
    targets = cfg.group_targets.per_latent(cfg.d_sae).to(device) if gba else None
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
    while run.step < total:
        step = run.step
        epoch, pos = divmod(step, steps_per_epoch)
        if perm is None or pos == 0:
            perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        idx = perm[pos * cfg.batch_size : (pos + 1) * cfg.batch_size]
        xb = (x[idx].float() * scale).to(device)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, total, cfg)
        floor = 0.8 * float(run.threshold)
        l1 = _l1_at(step, total, cfg)
        loss, stats = _step_loss(w, xb, cfg, run.last_fired, step * cfg.batch_size, floor, l1, run.window)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _project_out_parallel_grad(w)
        opt.step()
        with torch.no_grad():
            w.dec.div_(w.dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
            run.last_fired[stats["cols"].unique()] = (step + 1) * cfg.batch_size
            if len(stats["vals"]):
                momentum = 0.0 if step == 0 else cfg.threshold_momentum
                run.threshold = momentum * run.threshold + (1 - momentum) * stats["vals"].min()
        if run.window is not None and targets is not None and run.window.tokens >= cfg.gba_window:
            adapt_biases(w.b_enc.data, run.window, targets, cfg.gba_step)
            run.window.reset()
        run.step += 1
        if progress:
            l0 = len(stats["vals"]) / len(xb)
            progress(run.step, total, {"mse": float(stats["mse"]), "dead": stats["n_dead"] / cfg.d_sae, "l0": l0})
        if checkpoint and (run.step % cfg.checkpoint_every == 0 or run.step == total):
            save_checkpoint(
                checkpoint,
                {
                    "config": asdict(cfg), "data": data_key, "weights": w.state_dict(), "optimizer": opt.state_dict(),
                    **run.state(),
                },
            )  # fmt: skip
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
