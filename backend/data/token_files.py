"""Fixed token tensors from files, so an index is computed on exactly the inputs another tool used.

Accepted: `.npy`, `.pt` (a tensor, loaded with `weights_only`) or `.safetensors` (its `tokens` tensor, or its
only one), holding `[n_contexts, context_size]` integer ids, used as they are: no BOS is added.
"""

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import Tensor

from backend.core.errors import AtlasError, first_line


def _read(path: Path) -> object:
    if path.suffix == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False))
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    if path.suffix == ".safetensors":
        tensors = load_file(str(path))
        if "tokens" in tensors:
            return tensors["tokens"]
        if len(tensors) == 1:
            return next(iter(tensors.values()))
        raise AtlasError(f"{path} holds {len(tensors)} tensors and none is called 'tokens'.")
    raise AtlasError(f"{path}: token files are .npy, .pt or .safetensors.")


def load_tokens(path: Path, vocab_size: int) -> Tensor:
    """`[n_contexts, context_size]` int64 token ids from `path`, checked against the model's vocabulary."""
    if not path.is_file():
        raise AtlasError(f"No token file at {path}.")
    try:
        tokens = _read(path)
    except AtlasError:
        raise
    except Exception as err:
        raise AtlasError(f"{path} is not a readable token file ({first_line(err)}).") from err
    if not isinstance(tokens, Tensor) or tokens.ndim != 2 or tokens.is_floating_point() or tokens.dtype == torch.bool:
        raise AtlasError(f"{path} must hold a 2-D integer tensor [contexts, tokens].")
    if tokens.shape[0] < 1 or tokens.shape[1] < 2:
        raise AtlasError(f"{path} holds {list(tokens.shape)}: need at least one context of two tokens.")
    if int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size:
        raise AtlasError(f"{path} has ids outside the model's vocabulary (0 to {vocab_size - 1}): another tokenizer?")
    return tokens.long()
