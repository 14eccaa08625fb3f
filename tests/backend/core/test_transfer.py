"""Host-to-GPU copies without a wait (backend/core/transfer.py): the branch a GPU takes, checked on a CPU by what it
asks of torch, and the CPU's path unchanged."""

from typing import Any

import pytest
import torch

from backend.core.transfer import to_device


def test_on_the_cpu_a_tensor_stays_as_it_is() -> None:
    values = torch.arange(6)
    assert to_device(values, torch.device("cpu")) is values


def test_to_a_gpu_it_is_pinned_then_copied_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def pin(self: torch.Tensor) -> torch.Tensor:
        asked.append("pin")
        return self

    def move(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        asked.append(f"to {args[0]} non_blocking={kwargs.get('non_blocking', False)}")
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin)
    monkeypatch.setattr(torch.Tensor, "to", move)
    to_device(torch.arange(6), torch.device("cuda"))
    assert asked == ["pin", "to cuda non_blocking=True"]
