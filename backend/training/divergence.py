"""A loss that is not finite stops training (`TrainingDiverged`) before anything is saved, found without making every
step wait for the device to say so."""

import torch
from torch import Tensor

from backend.core.errors import AtlasError


class TrainingDiverged(AtlasError):
    """The loss became NaN or infinite: nothing is saved, the settings need changing."""


class Divergence:
    """The first step whose loss is not finite and that loss, kept on the device; the trainer `check`s now and then
    and before it saves anything, so no step waits on the device for it."""

    def __init__(self, total: int, lr: float, device: torch.device) -> None:
        self.total, self.lr = total, lr
        self.step = torch.full((), -1, dtype=torch.long, device=device)
        self.loss = torch.zeros((), device=device)

    def see(self, loss: Tensor, step: int) -> None:
        first = (self.step < 0) & ~torch.isfinite(loss.detach())
        self.step = torch.where(first, step, self.step)
        self.loss = torch.where(first, loss.detach(), self.loss)

    def check(self) -> None:
        step = int(self.step)
        if step >= 0:
            raise TrainingDiverged(
                f"Training diverged at step {step + 1} of {self.total}: the loss is {float(self.loss)}. Nothing was "
                f"saved; lower the learning rate (lr = {self.lr:g}) or the objective's coefficients and train again."
            )
