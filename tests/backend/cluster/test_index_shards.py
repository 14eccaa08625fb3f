"""The index on a local Ray cluster of two workers equals the one-process build, also when a worker dies in
the middle of a shard and Ray reruns it."""

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import pytest
import torch

from backend.cluster.index_shards import ShardCheckpoint, ShardJob, fold_on_ray, index_on_ray
from backend.cluster.runtime import RayConfig, connected
from backend.core.errors import AtlasError
from backend.index.build import run_pass
from backend.index.cards import CardReader
from backend.index.plan import ActivationFn, IndexPlan, IndexWorker
from backend.index.release import IndexSettings, index_release_sae, plan_release_index
from backend.index.state import IndexState
from backend.index.store import IndexReader
from backend.models.sae import SAE
from backend.pipeline.add import AddRequest, add_release
from backend.sources.release import CorpusSpec, Release
from tests.backend.tiny_models import saelens_folder

CONTEXTS = 40
SHARD = 6


@pytest.fixture
def release(tiny_world: dict[str, Path]) -> Release:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    return add_release(
        AddRequest("mine", (str(folder),), CorpusSpec("local", path=str(tiny_world["corpus"])), contexts=8)
    )


@pytest.fixture
def ray(release: Release) -> Iterator[ModuleType]:
    with connected(RayConfig(workers=2)) as ray:
        yield ray


@dataclass(frozen=True)
class DiesOnce:
    """The release's worker, except that the first worker to reach context `at` dies there (SIGKILL-like:
    no exception, no cleanup), as a lost machine would."""

    worker: IndexWorker
    marker: Path
    at: int

    def load(self, device: torch.device) -> tuple[SAE, ActivationFn]:
        sae, activations = self.worker.load(device)

        def dying(start: int, batch: torch.Tensor) -> torch.Tensor:
            if start == self.at and not self.marker.exists():
                self.marker.write_text(str(os.getpid()))
                os._exit(1)
            return activations(start, batch)

        return sae, dying


@dataclass(frozen=True)
class CountsLoads:
    """The release's worker, noting each load (by process id) in `log`."""

    worker: IndexWorker
    log: Path

    def load(self, device: torch.device) -> tuple[SAE, ActivationFn]:
        with self.log.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return self.worker.load(device)


def one_process(plan: IndexPlan, work: Path) -> IndexState:
    state = run_pass(plan.sae, plan.tokens, plan.activations, plan.cfg, work, plan.key)
    assert state is not None
    return state


def assert_same(a: IndexState, b: IndexState) -> None:
    for name, tensor in a.tensors().items():
        other = getattr(b, name)
        if name == "total":  # float64 sums added in another order
            assert torch.allclose(tensor, other, rtol=1e-12, atol=0), name
        else:
            assert torch.equal(tensor, other), name


def test_two_workers_equal_one_process_even_when_a_worker_dies(
    release: Release, ray: ModuleType, tmp_path: Path
) -> None:
    plan = plan_release_index(release, "32", IndexSettings(contexts=CONTEXTS))
    expected = one_process(plan, tmp_path / "work")
    config, cfg = RayConfig(shard_contexts=SHARD), replace(plan.cfg, batch_contexts=2)
    loads = tmp_path / "loads"
    assert_same(
        fold_on_ray(ray, ShardJob(CountsLoads(plan.worker, loads), cfg, "plain"), plan.tokens, config), expected
    )
    pids = loads.read_text().split()
    assert len(pids) == len(set(pids)) < 7, "the model and SAE are loaded once per worker process, not per shard"

    marker = tmp_path / "died"
    # The third shard's worker dies after folding its first batch: the retried shard must not count it twice.
    dies = ShardJob(DiesOnce(plan.worker, marker, at=2 * SHARD + 2), cfg, "dies")
    assert_same(fold_on_ray(ray, dies, plan.tokens, config), expected)
    assert marker.exists(), "no worker died: the retry was not exercised"


def test_a_run_stopped_by_a_failed_shard_resumes_from_its_checkpoint(
    release: Release, ray: ModuleType, tmp_path: Path
) -> None:
    plan = plan_release_index(release, "32", IndexSettings(contexts=CONTEXTS))
    expected = one_process(plan, tmp_path / "work")
    config = RayConfig(shard_contexts=SHARD, max_retries=0, checkpoint_seconds=0)
    checkpoint = ShardCheckpoint(tmp_path / "shards", {"run": 1}, 32, plan.cfg.top_k)
    dies = ShardJob(DiesOnce(plan.worker, tmp_path / "died", at=5 * SHARD), plan.cfg, "dies")
    with pytest.raises(AtlasError, match="failed on the Ray cluster"):
        fold_on_ray(ray, dies, plan.tokens, config, checkpoint=checkpoint)
    kept = checkpoint.load()[1]
    assert kept and 5 not in kept

    progress: list[tuple[int, int]] = []
    state = fold_on_ray(
        ray,
        ShardJob(plan.worker, plan.cfg, "plain"),
        plan.tokens,
        config,
        lambda d, t: progress.append((d, t)),
        checkpoint,
    )
    assert_same(state, expected)
    assert progress[0] == (len(kept), 7)


def test_the_store_written_from_ray_equals_the_one_process_store(release: Release, ray: ModuleType) -> None:
    settings = IndexSettings(contexts=CONTEXTS)
    folder = index_release_sae(release, "32", settings, report=lambda *_: None)
    local = CardReader(IndexReader.open(folder))
    cards = [local.card(latent) for latent in range(32)]
    (folder / "meta.json").unlink()
    progress: list[tuple[int, int]] = []
    index_on_ray(
        plan_release_index(release, "32", settings),
        RayConfig(shard_contexts=SHARD),
        lambda d, t: progress.append((d, t)),
    )
    distributed = CardReader(IndexReader.open(folder))
    for latent, card in enumerate(cards):
        other = distributed.card(latent)
        assert (other.count, other.max, other.histogram) == (card.count, card.max, card.histogram)
        assert other.top == card.top and other.intervals == card.intervals
    assert progress[0] == (0, 7) and progress[-1] == (7, 7)
