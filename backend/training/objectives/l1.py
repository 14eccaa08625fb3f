"""The paper's standard SAE: ReLU with an L1 penalty on the activations (decoder rows are unit norm, so this is
Anthropic's activation x decoder-norm penalty), its coefficient ramped up linearly over the first `warmup` of
training."""

from dataclasses import dataclass

import torch
from torch import Tensor

from backend.core.typed import ranged
from backend.training.objectives.base import Objective
from backend.training.sparse import select_positive


@dataclass(frozen=True)
class L1(Objective):
    name = "l1"
    architecture = "standard"

    coef: float = ranged(1.0, 0, 1e6, low_open=True)
    """The L1 penalty on activations, in units where inputs have mean squared norm d_in."""
    warmup: float = ranged(0.05, 0, 1)
    """Fraction of training over which the coefficient rises linearly from zero."""
    init_l0: int | None = ranged(64, 1, None)
    """Each encoder bias starts at the quantile of its latent's pre-activations (on a sample of inputs) that makes
    it fire on `init_l0 / d_sae` of them, so training starts at L0 about `init_l0` instead of d_sae / 2 (which
    makes early steps dense and slow). None: biases start at 0."""

    def check(self, d_sae: int) -> None:
        if self.init_l0 is not None and self.init_l0 > d_sae:
            raise ValueError(f"l1_init_l0 must be at most d_sae ({d_sae}), got {self.init_l0}.")

    def start_bias(self, d_sae: int) -> Tensor | None:
        return torch.full((d_sae,), self.init_l0 / d_sae) if self.init_l0 else None

    def keep(self, pre: Tensor, threshold: Tensor) -> tuple[Tensor, Tensor]:
        return select_positive(pre)

    def penalty(self, vals: Tensor, batch: int, step: int, total: int) -> Tensor | None:
        warmup = self.warmup * total
        coef = self.coef * min(1.0, (step + 1) / warmup) if warmup > 0 else self.coef
        return coef * vals.sum() / batch
