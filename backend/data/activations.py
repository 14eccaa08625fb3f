"""Activations of a corpus at a hook, computed once in resumable chunks and kept on disk as float16."""

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.files import atomic_path
from backend.models.language import LanguageModel

CHUNK_CONTEXTS = 64
CALIBRATION_CONTEXTS = 16
"""Contexts whose median activation norm sets the outlier cap when nothing larger has been read."""


def cached_activations(
    lm: LanguageModel,
    tokens: Tensor,
    hook: str,
    convention: str,
    folder: Path,
    autocast: bool,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """`[n_contexts, seq, d_model]` float16 activations of `tokens`; finished chunks are reused,
    so an interrupted run picks up where it stopped. A chunk whose tokens differ, or that was read at
    another hook, convention, model or precision, is recomputed."""
    folder.mkdir(parents=True, exist_ok=True)
    key = json.dumps({"model": lm.name, "hook": hook, "convention": convention, "autocast": autocast}, sort_keys=True)
    parts = []
    starts = list(range(0, len(tokens), CHUNK_CONTEXTS))
    for number, start in enumerate(starts):
        batch = tokens[start : start + CHUNK_CONTEXTS]
        path = folder / f"chunk-{start:07d}.safetensors"
        acts = _read_chunk(path, batch, key)
        if acts is None:
            acts = lm.activations(batch, hook, convention, autocast=autocast).to(torch.float16).cpu()
            with atomic_path(path) as tmp:
                save_file({"tokens": batch.contiguous(), "acts": acts.contiguous()}, str(tmp), metadata={"key": key})
        parts.append(acts)
        if progress:
            progress(number + 1, len(starts))
    return torch.cat(parts)


def _read_chunk(path: Path, batch: Tensor, key: str) -> Tensor | None:
    """The chunk's activations if it holds `batch`'s and was read as `key` says (chunks from before keys
    were recorded count as read so); None when missing, unreadable or foreign."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), "pt") as handle:
            if (handle.metadata() or {}).get("key", key) != key:
                return None
        chunk = load_file(str(path))
    except (SafetensorError, OSError, ValueError):
        return None
    acts = chunk.get("acts")
    if chunk.get("tokens") is None or not torch.equal(chunk["tokens"], batch) or acts is None:
        return None
    if acts.shape[:2] != batch.shape or not torch.isfinite(acts).all():
        return None
    return acts


def norm_cap(acts: Tensor, tokens: Tensor, bos_id: int, multiple: float | None) -> float | None:
    """`multiple` x the median activation norm over non-BOS positions (None keeps every token)."""
    if multiple is None:
        return None
    norms = acts.float().norm(dim=-1)[tokens != bos_id]
    return float(multiple * norms.median())


def kept_positions(tokens: Tensor, acts: Tensor, bos_id: int | None, cap: float | None) -> Tensor:
    """`[..., seq]` bool: the positions SAEs are meant for, in `tokens [..., seq]` with their
    `acts [..., seq, d_model]`: not BOS, and not above the norm cap (massive-activation tokens)."""
    keep = torch.ones(tokens.shape, dtype=torch.bool, device=acts.device)
    if bos_id is not None:
        keep &= tokens.to(acts.device) != bos_id
    if cap is not None:
        keep &= acts.float().norm(dim=-1) <= cap
    return keep


def token_vectors(acts: Tensor, tokens: Tensor, bos_id: int, cap: float | None) -> Tensor:
    """The activations the SAEs are meant for, `[n, d_model]` (see `kept_positions`)."""
    return acts[kept_positions(tokens, acts, bos_id, cap)]
