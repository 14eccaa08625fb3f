"""BatchTopK (Bussmann, Leask & Nanda 2024): each step keeps the `k * batch` largest pre-activations of the whole
batch; at inference the SAE is a JumpReLU with one threshold, the running average of the smallest kept activation."""

from dataclasses import dataclass

from torch import Tensor

from backend.core.typed import ranged
from backend.training.objectives.base import Objective
from backend.training.sparse import select_top


@dataclass(frozen=True)
class BatchTopK(Objective):
    name = "batchtopk"
    architecture = "batchtopk"

    k: int = ranged(32, 1, None)
    """Active latents per token, on average over a batch."""

    def check(self, d_sae: int) -> None:
        if self.k > d_sae:
            raise ValueError(f"{self.name}_k must be at most d_sae ({d_sae}), got {self.k}.")

    def sae_k(self) -> int:
        return self.k

    def encoder_scale(self) -> float:
        # The k active latents of a token should add up to roughly one input, not k of them.
        return 1 / self.k

    def keep(self, pre: Tensor, threshold: Tensor) -> tuple[Tensor, Tensor]:
        return select_top(pre, self.k * len(pre), threshold)
