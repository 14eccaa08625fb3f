"""Group Bias Adaptation (`backend.training.bias_adaptation`; Chen et al. 2025): a ReLU SAE trained on
reconstruction alone whose encoder biases are steered, not learned, so each group of latents fires at its target
frequency. Its encoder is its decoder (tied, by default); its biases and b_dec take no gradient (the adapted biases
are thresholds measured from b_dec, and a learned b_dec moved that origin under them: on planted data it drifted
and halved the features recovered); no auxiliary loss (a silent latent is re-activated through its bias). Saved as a
standard SAE that says it was trained as GBA."""

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from backend.core.typed import ranged
from backend.training.bias_adaptation import FiringWindow, GroupTargets, adapt_biases
from backend.training.objectives.base import Objective, Run
from backend.training.sparse import select_positive

_DEFAULTS = GroupTargets()


@dataclass(frozen=True)
class GBA(Objective):
    name = "gba"
    architecture = "standard"
    auxiliary_loss = False
    learns_biases = False

    groups: int = ranged(_DEFAULTS.groups, 1, None)
    """Groups of latents, each with its own target activation frequency (at most d_sae)."""
    highest: float = ranged(_DEFAULTS.highest, 1e-6, 1)
    lowest: float = ranged(_DEFAULTS.lowest, 1e-6, 1)
    """The targets run geometrically from `highest` to `lowest` (fractions of tokens; below one in a million no
    training run here sees a latent fire often enough to steer it)."""
    step: float = ranged(0.01, 0, 1, low_open=True)
    """An above-target latent's bias falls by this multiple of its largest pre-activation in the window."""
    window: int = ranged(40_960, 1, None)
    """Training tokens over which firing is counted before each bias adaptation."""
    tied: bool = True
    """The encoder is the decoder (unit-norm rows), as in the paper's model (this project's reading of it);
    untied, on planted features, it recovers fewer (benchmarks/bench_gba.py prints both)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.targets  # noqa: B018 (refuses impossible targets now, not at the first step)

    def check(self, d_sae: int) -> None:
        if self.groups > d_sae:
            raise ValueError(f"gba_groups must be at most d_sae ({d_sae}), got {self.groups}.")

    @property
    def targets(self) -> GroupTargets:
        return GroupTargets(self.groups, self.highest, self.lowest)

    def start_bias(self, d_sae: int) -> Tensor:
        return self.targets.per_latent(d_sae)

    def keep(self, pre: Tensor, threshold: Tensor) -> tuple[Tensor, Tensor]:
        return select_positive(pre)

    def run(self, d_sae: int, device: torch.device) -> Run:
        return _Adapting(self, FiringWindow(d_sae, device), self.targets.per_latent(d_sae).to(device))

    def saved_config(self, d_sae: int) -> dict[str, Any]:
        return {"trained_as": {"architecture": self.name}}


class _Adapting(Run):
    """The firing window of one run, and each latent's target; biases move once a window is full."""

    def __init__(self, gba: GBA, window: FiringWindow, targets: Tensor):
        self.gba, self.window, self.targets = gba, window, targets

    def observe(self, pre: Tensor) -> None:
        self.window.add(pre)

    def after_step(self, b_enc: Tensor) -> None:
        if self.window.tokens >= self.gba.window:
            adapt_biases(b_enc, self.window, self.targets, self.gba.step)
            self.window.reset()

    def state(self) -> dict[str, Any]:
        return self.window.state()

    def load(self, state: dict[str, Any]) -> None:
        self.window.load(state)
