"""What a steering strength means: a vector to add at the hook, and how to clamp a latent instead.

Strength is in units of the latent's own largest activation on the indexed corpus: strength 1 adds
exactly what the latent contributes to the SAE's reconstruction when it fires at its maximum
(`max_act * W_dec[latent]`), so strengths compare across latents of very different scales.

A meta-latent has no activation on the residual stream: its decoder row lives in the space of unit
SAE decoder rows. Its direction is that row scaled to the mean decoder norm of its member latents,
and its unit of strength is their mean largest activation, so strength 1 pushes about as hard as a
typical member latent firing at its maximum.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from backend.core.errors import AtlasError
from backend.models.sae import SAE


@dataclass(frozen=True)
class Direction:
    """A steering direction at the SAE's hook."""

    vector: Tensor
    """`[d_model]`: what strength 1 adds."""
    encoder: Tensor | None = None
    """`[d_model]` encoder column, with `bias`, so clamping can read the latent's activation (None: cannot clamp)."""
    bias: float = 0.0
    """Pre-activation offset: `(x - b_dec) @ W_enc[:, i] + b_enc[i]` folded into `x @ encoder + bias`."""
    threshold: float = 0.0
    """The latent fires when its pre-activation exceeds this (jumprelu, batchtopk; 0 = ReLU). A top-k
    latent's activation also depends on the others; clamping reads it as a ReLU."""
    unit: float = 1.0
    """The activation that strength 1 stands for (clamping sets the latent to `strength * unit`)."""

    @property
    def can_clamp(self) -> bool:
        return self.encoder is not None

    def activation(self, x: Tensor) -> Tensor:
        """The latent's activation on `x [..., d_model]`, as `[..., 1]`; only for latent directions."""
        assert self.encoder is not None
        pre = x @ self.encoder.to(x.device) + self.bias
        return (pre * (pre > self.threshold)).unsqueeze(-1)


@torch.no_grad()
def latent_direction(sae: SAE, latent: int, max_act: float) -> Direction:
    """Steering along SAE latent `latent`, whose largest indexed activation is `max_act`."""
    if not 0 <= latent < sae.cfg.d_sae:
        raise AtlasError(f"Latent {latent} is out of range: this SAE has 0 to {sae.cfg.d_sae - 1}.")
    if not max_act > 0:
        raise AtlasError(f"Latent {latent} never fired on the indexed text, so it has no scale to steer with.")
    column = sae.W_enc[:, latent].detach().float().cpu()
    shift = sae.b_dec.detach().float().cpu() @ column if sae.cfg.apply_b_dec_to_input else torch.tensor(0.0)
    bias = float(sae.b_enc[latent].detach().float().cpu() - shift)
    row = sae.W_dec[latent].detach().float().cpu()
    threshold = float(sae.threshold[latent]) if sae.cfg.uses_threshold else 0.0
    return Direction(vector=row * max_act, encoder=column, bias=bias, threshold=max(threshold, 0.0), unit=max_act)


@torch.no_grad()
def meta_direction(meta_sae: SAE, meta_latent: int, sae: SAE, members: list[int], max_acts: Tensor) -> Direction:
    """Steering along a meta-latent of a meta-SAE over `sae`; `members` are the latents containing it and
    `max_acts [d_sae]` every latent's largest indexed activation."""
    if not 0 <= meta_latent < meta_sae.cfg.d_sae:
        raise AtlasError(f"Meta-latent {meta_latent} is out of range: 0 to {meta_sae.cfg.d_sae - 1}.")
    live = [m for m in members if max_acts[m] > 0]
    if not live:
        raise AtlasError(f"No latent that fires contains meta-latent {meta_latent}, so it has no scale to steer with.")
    row = meta_sae.W_dec[meta_latent].detach().float().cpu()
    norms = sae.W_dec.detach()[live].float().cpu().norm(dim=1)
    unit = float(max_acts[live].float().mean())
    return Direction(vector=row / row.norm().clamp_min(1e-12) * float(norms.mean()) * unit, unit=unit)
