"""The standard SAE: ReLU of the pre-activations (the paper's GPT-2 family; sparsity came from an L1 penalty)."""

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from backend.models.architectures.base import Architecture

if TYPE_CHECKING:
    from backend.models.sae import SAE


class Standard(Architecture):
    name = "standard"
    summary = "ReLU"
    reads_each_latent = True

    def activate(self, pre: Tensor, sae: "SAE") -> Tensor:
        return torch.relu(pre)

    def firing_threshold(self, sae: "SAE") -> Tensor:
        return torch.zeros_like(sae.b_enc)


ARCHITECTURE = Standard()
