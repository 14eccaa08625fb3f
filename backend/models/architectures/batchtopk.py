"""BatchTopK (Bussmann et al. 2024): in training the `k * batch` largest activations of a batch; at inference one
threshold (what training's smallest kept activation settled at), so it reads as JumpReLU and SAELens saves it as one.
The trained `k` travels in `cfg.json` as `trained_as`."""

from typing import Any

from backend.models.architectures.jumprelu import JumpReLU


class BatchTopK(JumpReLU):
    name = "batchtopk"
    summary = "k per token on average, one threshold at inference"
    needs_k = True
    saved_as = "jumprelu"

    def config_fields(self, k: int | None) -> dict[str, Any]:
        return {"trained_as": {"architecture": self.name, "k": k}}


ARCHITECTURE = BatchTopK()
