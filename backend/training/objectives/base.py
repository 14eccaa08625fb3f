"""What a training objective is to the trainer: which pre-activations a step keeps, what it adds to the loss, how
the encoder biases start and move, and which SAE architecture the result is.

An objective is a frozen dataclass of its own settings (each with a stated range) plus these hooks; the trainer's
loop (`backend.training.trainer`) calls them and names no objective. In a catalog's `training` table an objective's
settings are written flat as `<objective>_<setting>` (`l1_coef`, `gba_window`), next to `objective = "<name>"`.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from backend.core.typed import check_field_ranges, check_field_types


class Run:
    """What an objective keeps between steps of one training run (and in its checkpoints): nothing, by default."""

    def observe(self, pre: Tensor) -> None:
        """Sees each step's dense pre-activations `[batch, d_sae]` (no gradient)."""

    def after_step(self, b_enc: Tensor) -> None:
        """May move the encoder biases `[d_sae]` in place after the optimiser's step."""

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Reads `state()` back (KeyError, TypeError or ValueError when it does not fit)."""


@dataclass(frozen=True)
class Objective(ABC):
    """One way of training an SAE. Subclasses are frozen dataclasses whose fields are the objective's settings."""

    name: ClassVar[str]
    """What a catalog's `training.objective` says."""
    architecture: ClassVar[str]
    """The SAE architecture (`backend.models.architectures`) the trained SAE is saved as."""
    auxiliary_loss: ClassVar[bool] = True
    """Dead latents reconstruct the residual (Bussmann et al.'s auxiliary loss)."""
    learns_biases: ClassVar[bool] = True
    """The encoder biases and b_dec take gradient."""

    def __post_init__(self) -> None:
        check_field_types(self)
        check_field_ranges(self, prefix=f"{self.name}_")

    def check(self, d_sae: int) -> None:
        """A ValueError when these settings cannot train an SAE of `d_sae` latents."""
        return None

    def sae_k(self) -> int | None:
        """The saved SAE's `k`, for objectives defined by active latents per token."""
        return None

    @property
    def tied(self) -> bool:
        """The encoder is the decoder."""
        return False

    def encoder_scale(self) -> float:
        """Encoder rows start as this multiple of the decoder rows."""
        return 0.1

    def start_bias(self, d_sae: int) -> Tensor | None:
        """`[d_sae]` fraction of inputs each latent should fire on at the start (its bias is calibrated to it), or
        None: biases start at zero."""
        return None

    @abstractmethod
    def keep(self, pre: Tensor, threshold: Tensor) -> tuple[Tensor, Tensor]:
        """(rows, cols) of the entries of `pre [batch, d_sae]` that can be non-zero after the activation; `threshold`
        is the running inference threshold (a 0-d tensor on the device: reading it waits for the device)."""

    def penalty(self, vals: Tensor, batch: int, step: int, total: int) -> Tensor | None:
        """A sparsity term added to the loss from the kept activations `vals [n]` of a batch of `batch` inputs, at
        step `step` of `total`; None: none."""
        return None

    def fit(self, err: Tensor, cols: Tensor, d_sae: int, decode: Callable[[Tensor], Tensor]) -> Tensor | None:
        """The reconstruction term of the loss, given the whole dictionary's error `err [batch, d_in]`, the kept
        entries' latents `cols [n]`, and `decode(mask)`: what the kept entries where `mask [n]` decode to, `[batch,
        d_in]`. None: the mean over tokens of `err`'s summed squares."""
        return None

    def run(self, d_sae: int, device: torch.device) -> Run:
        return Run()

    def saved_config(self, d_sae: int) -> dict[str, Any]:
        """What the saved SAE's `cfg.json` says of how it was trained, beyond its architecture's own fields."""
        return {}

    def table(self) -> dict[str, Any]:
        """The settings as a catalog writes them: `objective` and `<name>_<setting>` for each."""
        return {"objective": self.name, **{f"{self.name}_{key}": value for key, value in asdict(self).items()}}
