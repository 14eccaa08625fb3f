"""Copies from the host to a GPU that do not make the host wait, and work that overlaps on one."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """`tensor` on `device`, the same values. From the host to a GPU it goes through pinned memory without waiting: a
    copy from pageable memory first waits for the device to finish everything queued before it. Anywhere else, as
    `Tensor.to` moves it."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@contextmanager
def own_stream(device: torch.device) -> Iterator[None]:
    """On a GPU, what the block queues runs on a CUDA stream of its own (after what was queued before it), so that
    two threads' work can overlap on the device; the block's end waits for it. Anywhere else, nothing changes."""
    if device.type != "cuda":
        yield
        return
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        yield
    stream.synchronize()
