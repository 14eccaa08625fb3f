"""The latent index on a Ray cluster: the contexts split into shards, each shard's state computed by a Ray
task, the states merged in a tree, and the result written by the driver into the same store the
one-process build writes.

A shard's state depends only on its contexts (backend/index/state.py: exact and order-independent), so a
shard rerun after its worker died gives the same state, and the merged index equals the one-process one:
nothing lost, nothing counted twice. The driver checkpoints the merged state of the finished shards now and
then, so a rerun of an interrupted run computes only the others.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import torch
from torch import Tensor

from backend.cluster.runtime import RayConfig, connected, gpus_per_task
from backend.core.config import default_device
from backend.core.errors import AtlasError, first_line
from backend.core.progress import Progress
from backend.index.build import batch_activations, fold_batch, load_checkpoint, save_checkpoint, save_index
from backend.index.plan import ActivationFn, IndexConfig, IndexPlan
from backend.index.state import IndexState, merge
from backend.models.sae import SAE

StateTensors = dict[str, Tensor]
"""An `IndexState` as its tensors (on the CPU): what travels through Ray's object store."""


class WorkerLoader(Protocol):
    """Picklable; loads the SAE and the activation function on the worker that runs a shard."""

    def load(self, device: torch.device) -> tuple[SAE, ActivationFn]: ...


@dataclass(frozen=True)
class ShardJob:
    loader: WorkerLoader
    cfg: IndexConfig
    name: str
    """Names what `loader` loads: a worker keeps one loaded model and SAE, reused by every shard of a job."""


_loaded: dict[str, tuple[SAE, ActivationFn]] = {}
"""Per worker process: the model and SAE of the job it last ran."""


def _worker_model(job: ShardJob) -> tuple[SAE, ActivationFn]:
    if job.name not in _loaded:
        _loaded.clear()
        _loaded[job.name] = job.loader.load(default_device())
    return _loaded[job.name]


def fold_shard(job: ShardJob, tokens: Tensor, first_context: int) -> StateTensors:
    """The state of contexts `first_context ...` (`tokens [contexts, seq]`), batch by batch."""
    sae, activations = _worker_model(job)
    state = IndexState.empty(sae.cfg.d_sae, sae.device, job.cfg.top_k)
    for start in range(0, len(tokens), job.cfg.batch_contexts):
        batch = tokens[start : start + job.cfg.batch_contexts]
        first = first_context + start
        fold_batch(state, sae, batch, batch_activations(activations, first, batch, job.cfg), first, job.cfg)
    return state.to(torch.device("cpu")).tensors()


def merge_states(a: StateTensors, b: StateTensors) -> StateTensors:
    return merge(IndexState(**a), IndexState(**b)).tensors()


def shard_bounds(n_contexts: int, shard_contexts: int) -> list[tuple[int, int]]:
    return [(start, min(start + shard_contexts, n_contexts)) for start in range(0, n_contexts, shard_contexts)]


@dataclass(frozen=True)
class ShardCheckpoint:
    """Where a Ray run keeps the merged state of the shards it has finished, so that a rerun after the
    driver stopped (or a shard failed for good) computes only the others."""

    folder: Path
    key: dict[str, Any]
    """The index key and the shard size: finished shards are reusable only at the same bounds."""
    d_sae: int
    top_k: int

    def load(self) -> tuple[IndexState | None, set[int]]:
        found = load_checkpoint(self.folder, self.key, self.d_sae, torch.device("cpu"), self.top_k)
        shards = found[1].get("shards_done") if found else None
        if found is None or not isinstance(shards, list) or not all(isinstance(i, int) for i in shards):
            return None, set()
        return found[0], set(shards)

    def save(self, state: IndexState, shards: set[int]) -> None:
        save_checkpoint(self.folder, state, self.key, shards_done=sorted(shards))


RESUMED = 64
"""The slot of a checkpointed state: above every level the merge counter reaches, so it is merged last."""


def fold_on_ray(
    ray: ModuleType,
    job: ShardJob,
    tokens: Tensor,
    config: RayConfig,
    progress: Progress | None = None,
    checkpoint: ShardCheckpoint | None = None,
) -> IndexState:
    """The state of all of `tokens [contexts, seq]`: one task per shard, merged pairwise in a tree as
    shards finish (merges run on the workers; the driver fetches the merged state only to checkpoint it,
    every `config.checkpoint_seconds`, and at the end)."""
    bounds = shard_bounds(len(tokens), config.shard_contexts)
    if not bounds:
        raise AtlasError("There are no contexts to index.")
    shard = ray.remote(max_retries=config.max_retries)(fold_shard).options(num_gpus=gpus_per_task(ray))
    merge_pair = ray.remote(max_retries=config.max_retries)(merge_states)
    resumed, done = checkpoint.load() if checkpoint else (None, set())
    pending = {shard.remote(job, tokens[a:b], a): i for i, (a, b) in enumerate(bounds) if i not in done}
    # A binary counter of partial merges: slot L holds the merge of 2^L shards, so merges form a balanced
    # tree that runs while later shards are still being computed.
    slots: dict[int, Any] = {} if resumed is None else {RESUMED: ray.put(resumed.tensors())}
    saved_at = time.monotonic()
    if progress:
        progress(len(done), len(bounds))
    while pending:
        finished, _ = ray.wait(list(pending), num_returns=1)
        for ref in finished:
            done.add(pending.pop(ref))
            level = 0
            while level in slots:
                ref = merge_pair.remote(slots.pop(level), ref)
                level += 1
            slots[level] = ref
        if progress:
            progress(len(done), len(bounds))
        if checkpoint and pending and time.monotonic() - saved_at >= config.checkpoint_seconds:
            state = _collapse(ray, slots, merge_pair)
            checkpoint.save(state, done)
            slots, saved_at = {RESUMED: ray.put(state.tensors())}, time.monotonic()
    return _collapse(ray, slots, merge_pair)


def _collapse(ray: ModuleType, slots: dict[int, Any], merge_pair: Any) -> IndexState:
    """The merge of every partial state, fetched to the driver."""
    partials = [slots[level] for level in sorted(slots)]
    while len(partials) > 1:
        partials = [merge_pair.remote(partials[0], partials[1]), *partials[2:]]
    try:
        return IndexState(**ray.get(partials[0]))
    except ray.exceptions.RayError as err:
        raise AtlasError(f"A shard of the index failed on the Ray cluster: {first_line(err)}") from err


def index_on_ray(plan: IndexPlan, config: RayConfig, progress: Progress | None = None) -> Path:
    """Build `plan`'s index with its shards on Ray: the store the one-process build writes, with the same
    counts, histograms and examples (float64 sums agree to rounding). A no-op when the finished index is there."""
    if plan.worker is None:
        raise AtlasError("This index reads activations held in this process; it cannot be sharded on Ray.")
    name = f"{plan.worker.release.id}/{plan.worker.sae_id}/{plan.key['weights']}/{plan.worker.precision}"
    key = {**plan.key, "shard_contexts": config.shard_contexts}
    checkpoint = ShardCheckpoint(plan.folder / "work", key, plan.sae.cfg.d_sae, plan.cfg.top_k)
    with connected(config) as ray:
        state = fold_on_ray(ray, ShardJob(plan.worker, plan.cfg, name), plan.tokens, config, progress, checkpoint)
    return save_index(plan, state)
