"""Build a latent index in one pass: the model runs once per token batch, every latent is encoded and
folded into mergeable running state (backend/index/state.py), then written to the store.

Memory is flat in the number of tokens: only the running state and one batch are held. The state
is checkpointed every few batches (atomically), and an interrupted build resumes from the last
checkpoint: batches are fixed slices of the corpus, so nothing is lost or counted twice.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.files import atomic_path, write_json_atomic
from backend.core.progress import Progress
from backend.core.transfer import to_device
from backend.data.activations import kept_positions
from backend.index.finalize import finalize
from backend.index.plan import ActivationFn, IndexConfig, IndexPlan
from backend.index.state import TOP_K, IndexState
from backend.index.store import write_index
from backend.models.sae import SAE

CHECKPOINT, PROGRESS = "checkpoint.safetensors", "checkpoint.json"
COVERS = "covers"
ENCODE_ELEMENTS = 1 << 25
"""Contexts are encoded in chunks of at most this many latent activations (tokens x latents)."""
CUDA_ENCODE_ELEMENTS = 1 << 28
"""The same on a GPU (1 GB of float32): each chunk's bookkeeping waits for the device a few times, so a batch is
encoded in as few chunks as memory allows (one for 32 contexts of SAE-24576 at the GPT-2 shape, was four)."""


def encode_elements(device: torch.device) -> int:
    """The largest chunk of latent activations encoded at once on `device`."""
    return CUDA_ENCODE_ELEMENTS if device.type == "cuda" else ENCODE_ELEMENTS


def valid_positions(tokens: Tensor, acts: Tensor, cfg: IndexConfig) -> Tensor:
    """`[batch, seq]` mask of positions the index counts: inside `cfg.positions`, not BOS, not above the norm cap."""
    keep = kept_positions(tokens, acts, cfg.bos_id, cfg.norm_cap)
    if cfg.positions is not None:
        inside = torch.zeros(tokens.shape[-1], dtype=torch.bool, device=keep.device)
        inside[slice(*cfg.positions)] = True
        keep &= inside
    return keep


def batch_activations(activations: ActivationFn, first_context: int, tokens: Tensor, cfg: IndexConfig) -> Tensor:
    """`activations` of `tokens [n_ctx, seq]`, `[n_ctx, seq, d_in]`, with the model run only up to the last position
    the index counts: a causal model's activation at a position depends on no later token, and the positions after
    the window are zeros (never counted), so SAEDashboard's window 6:-6 saves the forward over the last 6 tokens."""
    seq = tokens.shape[1]
    last = slice(*cfg.positions).indices(seq)[1] if cfg.positions is not None else seq
    acts = activations(first_context, tokens[:, :last])
    return acts if last == seq else torch.nn.functional.pad(acts, (0, 0, 0, seq - last))


def fold_batch(
    state: IndexState,
    sae: SAE,
    tokens: Tensor,
    acts: Tensor,
    first_context: int,
    cfg: IndexConfig,
    elements: int | None = None,
) -> None:
    """Encode one batch `acts [n_ctx, seq, d_in]` and fold its valid positions into `state`, a few contexts at a
    time so that `[contexts, window, d_sae]` stays under `elements` (by default, `encode_elements` of the SAE's
    device).

    Only the columns inside `cfg.positions` are encoded (nothing outside them is ever counted): with
    SAEDashboard's 6:-6 that is 116 of 128 positions, and the dense encode is the pass's largest cost."""
    mask = valid_positions(tokens, acts, cfg)
    seq = tokens.shape[1]
    first, last, _ = slice(*cfg.positions).indices(seq) if cfg.positions is not None else (0, seq, 1)
    if last <= first:
        return
    mask, acts = mask[:, first:last], acts[:, first:last]
    step = max(1, (elements or encode_elements(sae.device)) // ((last - first) * sae.cfg.d_sae))
    activation = sae.elementwise_activation()
    with torch.no_grad():
        for start in range(0, len(tokens), step):
            chunk_mask = mask[start : start + step].to(sae.device)
            chunk = acts[start : start + step].to(sae.device)
            # Where the activation is elementwise the state reads the pre-activations' firing entries
            # itself: the dense activations (a product and a scan over every latent) are never built.
            latent_acts = sae.encode(chunk) if activation is None else sae.pre_acts(chunk)
            # On a GPU asking whether every position counts would stop the host until the device answers; masking
            # costs less there. On the CPU the question is free and saves a pass over the dense activations.
            if latent_acts.is_cuda or not bool(chunk_mask.all()):
                latent_acts.masked_fill_(~chunk_mask.unsqueeze(-1), 0 if activation is None else -torch.inf)
            state.update(latent_acts, chunk_mask, first_context + start, seq, first, activation)


def as_stored(key: dict[str, Any]) -> dict[str, Any]:
    """`key` as it reads back from JSON (tuples become lists), so a stored key compares equal."""
    loaded: dict[str, Any] = json.loads(json.dumps(key))
    return loaded


def load_checkpoint(
    folder: Path, key: dict[str, Any], d_sae: int, device: torch.device, top_k: int = TOP_K
) -> tuple[IndexState, dict[str, Any]] | None:
    """The checkpointed state and the progress recorded with it (what it holds); None (start over) for
    anything that is not a checkpoint of this very pass: another key, junk bytes, or tensors of the wrong
    shapes or types."""
    try:
        progress = json.loads((folder / PROGRESS).read_text(encoding="utf-8"))
        if not isinstance(progress, dict) or progress.get("key") != key:
            return None
        tensors = load_file(str(folder / CHECKPOINT), device=str(device))
        expected = IndexState.empty(d_sae, torch.device("meta"), top_k).tensors()
        if set(tensors) != set(expected) or any(
            tensors[n].shape != t.shape or tensors[n].dtype != t.dtype for n, t in expected.items()
        ):
            return None
        if int(progress["state_n_tokens"]) != int(tensors["n_tokens"]):
            return None
        with safe_open(str(folder / CHECKPOINT), "pt") as handle:
            covers = (handle.metadata() or {}).get(COVERS)
        if covers != _covers(progress):
            return None
        return IndexState(**tensors), progress
    except (OSError, ValueError, KeyError, TypeError, RecursionError, RuntimeError, SafetensorError):
        return None


def save_checkpoint(folder: Path, state: IndexState, key: dict[str, Any], **done: Any) -> None:
    """Checkpoint `state` with `done` (what it holds, JSON), atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    progress = {"key": key, **done, "state_n_tokens": int(state.n_tokens)}
    with atomic_path(folder / CHECKPOINT) as tmp:
        tensors = {k: v.contiguous() for k, v in state.host().tensors().items()}
        save_file(tensors, str(tmp), metadata={COVERS: _covers(progress)})
    write_json_atomic(folder / PROGRESS, progress)


def _covers(progress: dict[str, Any]) -> str:
    """What a checkpoint's tensors hold, written inside them: the progress file beside them must say the same,
    so a progress file edited by hand (more batches done than folded) starts the pass over."""
    return hashlib.sha256(json.dumps(progress, sort_keys=True, default=str).encode()).hexdigest()


def _resume(folder: Path, key: dict[str, Any], d_sae: int, device: torch.device, top_k: int) -> tuple[IndexState, int]:
    """The checkpointed state of this pass and how many batches it holds, or the empty state."""
    found = load_checkpoint(folder, key, d_sae, device, top_k)
    done = found[1].get("batches_done") if found else None
    if found is None or not isinstance(done, int) or done < 0:
        return IndexState.empty(d_sae, device, top_k), 0
    return found[0], done


def run_pass(
    sae: SAE,
    tokens: Tensor,
    activations: ActivationFn,
    cfg: IndexConfig,
    work_dir: Path,
    key: dict[str, Any],
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> IndexState | None:
    """Fold every batch of `tokens [n_contexts, seq]` into a state, resuming from `work_dir`.

    `stop_after` ends the pass early after that many batches in this call (a time-boxed run);
    the checkpoint is then current and None is returned. A finished pass is not checkpointed: its state goes
    straight to `save_index`, which would delete the checkpoint (on a GPU, copying the state to the host and
    writing it, hundreds of MB for SAE-24576, cost more than folding a batch); a process that dies before the
    index is written resumes from the last periodic checkpoint.
    """
    key = as_stored(key)
    state, done = _resume(work_dir, key, sae.cfg.d_sae, sae.device, cfg.top_k)
    batches = list(range(0, len(tokens), cfg.batch_contexts))
    for number, start in enumerate(batches[done:], start=done):
        # On the SAE's device from here (the model's forward and the mask read it there), sent without waiting.
        batch = to_device(tokens[start : start + cfg.batch_contexts], sae.device)
        fold_batch(state, sae, batch, batch_activations(activations, start, batch, cfg), start, cfg)
        if progress:
            progress(number + 1, len(batches))
        finished = number + 1
        if finished == len(batches):
            break
        stopping = stop_after is not None and finished - done >= stop_after
        if stopping or finished % cfg.checkpoint_every == 0:
            save_checkpoint(work_dir, state, key, batches_done=finished)
        if stopping:
            return None
    return state


def build_index(plan: IndexPlan, progress: Progress | None = None) -> Path:
    """Index `plan.sae` over `plan.tokens` into `plan.folder` in this process, resuming its checkpoint (whether an
    index there is current is `LatentIndex`'s question); the old index stays readable until the new one replaces
    it."""
    state = run_pass(plan.sae, plan.tokens, plan.activations, plan.cfg, plan.folder / "work", plan.key, progress)
    assert state is not None
    return save_index(plan, state)


def save_index(plan: IndexPlan, state: IndexState) -> Path:
    """Write the index of a finished `state` (of `plan.sae` over all of `plan.tokens`, however it was computed)
    into `plan.folder`, and drop the pass's checkpoint."""
    tokens, cfg = plan.tokens, plan.cfg
    latents, examples = finalize(state, plan.sae, tokens, plan.vocab, plan.unembed)
    meta = {
        "key": as_stored(plan.key),
        "d_sae": plan.sae.cfg.d_sae,
        "n_tokens": int(state.n_tokens),
        "n_contexts": len(tokens),
        "context_size": int(tokens.shape[1]),
        "norm_cap": cfg.norm_cap,
        "positions": list(cfg.positions) if cfg.positions else None,
        "top_k": cfg.top_k,
        **plan.meta,
    }
    write_index(plan.folder, meta, latents, examples, tokens.numpy(), plan.vocab)
    for name in (CHECKPOINT, PROGRESS):
        (plan.folder / "work" / name).unlink(missing_ok=True)
    return plan.folder
