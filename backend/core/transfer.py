"""Copies from the host to a GPU that do not make the host wait."""

import torch
from torch import Tensor


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """`tensor` on `device`, the same values. From the host to a GPU it goes through pinned memory without waiting: a
    copy from pageable memory first waits for the device to finish everything queued before it. Anywhere else, as
    `Tensor.to` moves it."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
