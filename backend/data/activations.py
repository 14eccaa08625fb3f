"""Activations of a corpus at a hook, computed once in resumable chunks and kept on disk as float16."""

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.artifacts import Artifact, safetensors_key
from backend.core.files import atomic_path
from backend.core.progress import Reporter, silent
from backend.models.formats import all_finite
from backend.models.language import LanguageModel

CHUNK_CONTEXTS = 64
CALIBRATION_CONTEXTS = 16
"""Contexts whose median activation norm sets the outlier cap when nothing larger has been read."""


class Activations(Artifact[Tensor]):
    """`[n_contexts, seq, d_model]` float16 activations of `tokens [n_contexts, seq]` at a hook, in chunks of
    `CHUNK_CONTEXTS` contexts. Finished chunks are reused, so an interrupted run picks up where it stopped; a
    chunk whose tokens differ, or that was read at another hook, convention, model or precision, is recomputed.
    Machine-local scratch: never published."""

    published = False

    def __init__(
        self,
        folder: Path,
        tokens: Tensor,
        model: str,
        hook: str,
        convention: str,
        autocast: bool,
        lm: Callable[[], LanguageModel],
    ) -> None:
        self.folder, self.tokens, self.model, self.hook, self.convention = folder, tokens, model, hook, convention
        self.autocast, self._lm = autocast, lm

    @property
    def name(self) -> str:
        return "activations"

    def _chunks(self) -> list[tuple[Path, Tensor]]:
        return [
            (self.folder / f"chunk-{start:07d}.safetensors", self.tokens[start : start + CHUNK_CONTEXTS])
            for start in range(0, len(self.tokens), CHUNK_CONTEXTS)
        ]

    def files(self) -> list[Path]:
        return [path for path, _ in self._chunks() if path.exists()]

    def key(self) -> str:
        return json.dumps(
            {"model": self.model, "hook": self.hook, "convention": self.convention, "autocast": self.autocast},
            sort_keys=True,
        )

    def stored_key(self) -> str | None:
        """The key every chunk was read with (chunks from before keys were recorded count as this one's); None
        when a chunk is missing or chunks disagree."""
        keys = set()
        for path, _ in self._chunks():
            if not path.exists():
                return None
            keys.add(safetensors_key(path) or self.key())
        return keys.pop() if len(keys) == 1 else None

    def load(self) -> Tensor | None:
        parts = [_read_chunk(path, batch) for path, batch in self._chunks()]
        return None if any(p is None for p in parts) else torch.cat(parts)  # type: ignore[arg-type]

    def compute(self, report: Reporter = silent) -> Tensor:
        key, parts, chunks = self.key(), [], self._chunks()
        report(self.name, 0, len(chunks))
        for number, (path, batch) in enumerate(chunks):
            acts = _read_chunk(path, batch) if safetensors_key(path) in (key, None) else None
            if acts is None:
                acts = self._lm().activations(batch, self.hook, self.convention, autocast=self.autocast)
                acts = acts.to(torch.float16).cpu()
                with atomic_path(path) as tmp:
                    save_file(
                        {"tokens": batch.contiguous(), "acts": acts.contiguous()}, str(tmp), metadata={"key": key}
                    )
            parts.append(acts)
            report(self.name, number + 1, len(chunks))
        return torch.cat(parts)


def _read_chunk(path: Path, batch: Tensor) -> Tensor | None:
    """The chunk's activations if it holds `batch`'s; None when missing, unreadable or of other tokens."""
    if not path.exists():
        return None
    try:
        chunk = load_file(str(path))
    except (SafetensorError, OSError, ValueError):
        return None
    acts = chunk.get("acts")
    if chunk.get("tokens") is None or not torch.equal(chunk["tokens"], batch) or acts is None:
        return None
    if acts.shape[:2] != batch.shape or not all_finite(acts):
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
