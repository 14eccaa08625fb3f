"""A trainer's checkpoint: written atomically, read back only when it is of the same settings and data."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from backend.core.files import atomic_path


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, cfg: object, data_key: str) -> dict[str, Any] | None:
    """The checkpoint if it is readable and from the same config (a dataclass) and data; None (start over)
    otherwise."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        path.unlink()
        return None
    if not isinstance(state, dict) or state.get("config") != asdict(cfg) or state.get("data", "") != data_key:  # type: ignore[call-overload]
        path.unlink()
        return None
    return state


def checked_tensor(state: dict[str, Any], name: str, like: Tensor) -> Tensor:
    """`state[name]`, refused (ValueError) unless it is a tensor of `like`'s shape and dtype."""
    value = state[name]
    if not isinstance(value, Tensor) or value.shape != like.shape or value.dtype != like.dtype:
        raise ValueError(f"{name} is not a {like.dtype} tensor of shape {tuple(like.shape)}")
    return value
