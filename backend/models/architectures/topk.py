"""TopK (Gao et al. 2024): the `k` largest ReLU activations of each token, the rest zero."""

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from backend.models.architectures.base import Architecture

if TYPE_CHECKING:
    from backend.models.sae import SAE


class TopK(Architecture):
    name = "topk"
    summary = "k per token"
    needs_k = True

    def activate(self, pre: Tensor, sae: "SAE") -> Tensor:
        assert sae.cfg.k is not None
        values, idx = torch.relu(pre).topk(sae.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, idx, values)

    def read_k(self, raw: dict[str, Any]) -> Any:
        # SAELens configs before `architecture` existed said `activation_fn_kwargs: {"k": ...}`.
        kwargs = raw.get("activation_fn_kwargs")
        return raw.get("k") if raw.get("k") is not None or not isinstance(kwargs, dict) else kwargs.get("k")

    def config_fields(self, k: int | None) -> dict[str, Any]:
        return {"k": k}


ARCHITECTURE = TopK()
