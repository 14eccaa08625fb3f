"""JumpReLU (Rajamanoharan et al. 2024): a pre-activation passes where it is above its latent's threshold."""

from typing import TYPE_CHECKING

from torch import Tensor

from backend.models.architectures.base import Architecture

if TYPE_CHECKING:
    from backend.models.sae import SAE


class JumpReLU(Architecture):
    name = "jumprelu"
    summary = "per-latent threshold"
    reads_each_latent = True
    reads_threshold = True

    def activate(self, pre: Tensor, sae: "SAE") -> Tensor:
        return pre * (pre > sae.threshold)

    def firing_threshold(self, sae: "SAE") -> Tensor:
        # A negative threshold would pass negative activations; nothing that reads the non-zeros counts those.
        return sae.threshold.clamp(min=0)


ARCHITECTURE = JumpReLU()
