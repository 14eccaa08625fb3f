"""What an SAE architecture is to this project: how it activates pre-activations, which tensors it needs, and what
its `cfg.json` says beyond the fields every SAELens config has.

Every architecture encodes as SAELens does: pre-activations `(x - b_dec) @ W_enc + b_enc` (the `b_dec` subtraction
switchable), reconstruction `f @ W_dec + b_dec`; only the activation function differs. An architecture is one module
of this package with one instance of a subclass, registered under the name SAELens writes in `cfg.json`.
"""

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor

if TYPE_CHECKING:
    from backend.models.sae import SAE

COMMON_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec")


class Architecture(ABC):
    """One SAE architecture. Subclasses set the class attributes and implement `activate`."""

    name: ClassVar[str]
    """As SAELens writes it in `cfg.json`'s `architecture`."""
    summary: ClassVar[str]
    """One line for people: what the activation does."""
    needs_k: ClassVar[bool] = False
    """Defined by `k` active latents per token (`0 < k <= d_sae`)."""
    reads_threshold: ClassVar[bool] = False
    """Reads the per-latent `threshold` tensor at inference (it is then in the weights file)."""
    saved_as: ClassVar[str | None] = None
    """Another architecture's name it is written as (SAELens saves BatchTopK for inference as JumpReLU)."""
    reads_each_latent: ClassVar[bool] = False
    """Each latent's activation is its own pre-activation where that is above `firing_threshold` and zero elsewhere
    (not a top-k, which reads the whole row): a reader of the non-zeros alone (the index) needs no dense activations,
    and the first latents alone are an SAE (a Matryoshka level). A question of the config: no weights are read."""

    def tensors(self, d_in: int, d_sae: int) -> dict[str, tuple[int, ...]]:
        """The weights file's tensors and their shapes; those beyond the common four and `threshold` become
        buffers of the SAE of that name."""
        shapes: dict[str, tuple[int, ...]] = {
            "W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,),
        }  # fmt: skip
        if self.reads_threshold:
            shapes["threshold"] = (d_sae,)
        return shapes

    @abstractmethod
    def activate(self, pre: Tensor, sae: "SAE") -> Tensor:
        """Pre-activations `[..., d_sae]` -> activations `[..., d_sae]` at inference; `sae` holds every tensor of
        `tensors()` by name, and the config."""

    def firing_threshold(self, sae: "SAE") -> Tensor:
        """`[d_sae]`: each latent's activation is its pre-activation above this value and zero elsewhere. Asked only
        of an architecture that `reads_each_latent`."""
        raise NotImplementedError(f"A {self.name} SAE's activation does not read each latent alone.")

    def read_k(self, raw: dict[str, Any]) -> Any:
        """`k` as this architecture's `cfg.json` states it (unchecked; None when absent)."""
        return raw.get("k")

    def config_fields(self, k: int | None) -> dict[str, Any]:
        """What `cfg.json` says of this architecture beyond the common fields (after them, in this order)."""
        return {}
