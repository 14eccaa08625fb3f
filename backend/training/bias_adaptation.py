"""Group Bias Adaptation (GBA; Chen, Sheen, Xiong, Wang & Yang 2025, "Taming Polysemanticity in LLMs: Provable
Feature Recovery via Sparse Autoencoders", arXiv 2506.14002): the encoder biases of a ReLU SAE are not learned by
gradient but steered so that each latent fires at a target frequency.

The latents are split into groups whose target activation frequencies are spread geometrically from a highest to
a lowest. Over a window of training tokens each latent's firing count and largest pre-activation are gathered;
at the end of the window a latent that fired more often than its group's target has its bias lowered by a step
proportional to its largest pre-activation, and a latent that did not fire at all has its bias raised until it
would have fired on the token where it came closest. Latents between silence and their target are left alone.

Where each setting comes from: the mechanism (groups, geometric targets, a step proportional to the largest
pre-activation, re-activating silent latents) is the paper's as its abstract and the issue describe it; the
default numbers (10 groups, targets 1e-1 to 1e-3, a step of 0.01, a 40,960-token window) are a third-party summary
of the paper, not checked against its text (only its abstract was readable from here). Two choices are this
project's reading, not the paper's: a silent latent is raised until the token where it came closest would fire,
and the trainer holds b_dec at the data mean (`backend.training.trainer`). `benchmarks/bench_gba.py` sweeps
window and step on planted data and compares GBA with ReLU + L1 at equal L0.
"""

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class GroupTargets:
    groups: int = 10
    highest: float = 0.1
    """Target activation frequency of the most frequent group (fraction of tokens)."""
    lowest: float = 1e-3
    """Target activation frequency of the rarest group."""

    def __post_init__(self) -> None:
        if self.groups < 1 or not 0 < self.lowest <= self.highest <= 1:
            raise ValueError(
                f"Group Bias Adaptation needs groups >= 1 and 0 < lowest <= highest <= 1, got groups={self.groups}, "
                f"highest={self.highest}, lowest={self.lowest}."
            )

    def per_latent(self, d_sae: int) -> Tensor:
        """`[d_sae]` target frequency of each latent: groups of consecutive latents, the first the most frequent."""
        if self.groups == 1:
            levels = torch.tensor([self.highest])
        else:
            levels = torch.logspace(
                torch.tensor(self.highest).log10().item(), torch.tensor(self.lowest).log10().item(), self.groups
            )
        group = torch.arange(d_sae) * self.groups // d_sae
        return levels[group].float()


class FiringWindow:
    """Each latent's firing count and largest pre-activation over the tokens seen since the last adaptation."""

    def __init__(self, d_sae: int, device: torch.device):
        self.counts = torch.zeros(d_sae, dtype=torch.long, device=device)
        self.peak = torch.full((d_sae,), -torch.inf, device=device)
        self.tokens = 0

    @torch.no_grad()
    def add(self, pre: Tensor) -> None:
        """Count a batch of pre-activations `[batch, d_sae]` (bias included)."""
        self.counts += (pre > 0).sum(dim=0)
        self.peak = torch.maximum(self.peak, pre.max(dim=0).values.float())
        self.tokens += pre.shape[0]

    def reset(self) -> None:
        self.counts.zero_()
        self.peak.fill_(-torch.inf)
        self.tokens = 0

    def state(self) -> dict[str, Tensor]:
        return {"counts": self.counts, "peak": self.peak, "tokens": torch.tensor(self.tokens)}

    def load(self, state: dict[str, Tensor]) -> None:
        if state["counts"].shape != self.counts.shape or state["peak"].shape != self.peak.shape:
            raise ValueError(f"the firing window is not of {len(self.counts)} latents")
        self.counts = state["counts"].to(self.counts.device, torch.long)
        self.peak = state["peak"].to(self.peak.device, torch.float32)
        self.tokens = int(state["tokens"])


@torch.no_grad()
def adapt_biases(b_enc: Tensor, window: FiringWindow, targets: Tensor, step: float) -> None:
    """Move `b_enc [d_sae]` in place by the window's firing: above-target latents down by `step` x their largest
    pre-activation, silent latents up to just above their largest pre-activation (it becomes `step` x its gap)."""
    if window.tokens == 0:
        return
    frequency = window.counts.float() / window.tokens
    too_often = frequency > targets.to(frequency.device)
    b_enc -= torch.where(too_often, step * window.peak.clamp_min(0), 0.0)
    silent = (window.counts == 0) & torch.isfinite(window.peak)
    b_enc -= torch.where(silent, window.peak * (1 + step), 0.0)
