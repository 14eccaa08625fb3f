"""Lanes for one build. On a GPU, the stages that compute on the CPU whatever the device (a latent map's UMAP,
facets' clustering of contexts: `Artifact.cpu_bound`) run in a thread beside the stages that use the GPU, so they
leave the build's critical path; and the trainings that no stage between them reads (the second seeds:
`Artifact.together`) run at the same time, each in a thread and on a CUDA stream of its own, as many at once as the
device's free memory holds (`MemoryBudget`, by `Artifact.device_bytes`). One SAE of the embedded default's size
leaves most of a GPU idle while its host waits on the data-dependent sizes of each step, so the others fill it. On a
CPU alone they would compete with the other stages for the same cores (torch takes all of them), so there the build
runs one lane unless told otherwise.

A CPU-bound artifact is queued when the main lane reaches it in the plan, so everything before it is done; nothing
later in a plan reads it (so the main lane never waits on the side lane, except before the app counts as usable
and at the end). The side lane runs its artifacts one at a time, in plan order. Artifacts trained together are
waited for before the next stage of the main lane. Every artifact draws its randomness from its own seeded
generators, so the files are the same whichever lane made them, and with whichever others (tests/backend/pipeline/
test_lanes.py).
"""

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType

import torch

from backend.core.artifacts import Artifact
from backend.core.config import default_device, free_memory
from backend.core.progress import Reporter
from backend.core.transfer import own_stream
from backend.pipeline.progress import ProgressWriter

TOGETHER_AT_MOST = 8
"""Trainings run at the same time, whatever the memory: past a few, they only queue for the same device."""
MEMORY_SHARE = 0.8
"""Share of the device's free memory that trainings run together may hold (the rest: the allocator's rounding and
fragmentation, the side lane)."""


def overlaps(device: torch.device) -> bool:
    """Whether a build computing on `device` runs CPU-bound stages beside the others and trains together by default."""
    return device.type != "cpu"


class MemoryBudget:
    """Bytes that jobs run at the same time may hold: a job waits until its bytes fit beside those held; one larger
    than the whole budget runs once nothing else holds any. `capacity` None: no limit."""

    def __init__(self, capacity: int | None) -> None:
        self._capacity, self._held = capacity, 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._fits(size))
            self._held += size
        try:
            yield
        finally:
            with self._changed:
                self._held -= size
                self._changed.notify_all()

    def _fits(self, size: int) -> bool:
        return self._capacity is None or self._held == 0 or self._held + size <= self._capacity


class Lanes:
    """Runs a plan's artifacts in order, each unless current: on the main lane as it comes, or, with `overlap`, a
    CPU-bound one queued on the side lane (one thread) and a `together` one started beside the others of its kind.
    Use as a context manager: leaving it on an error cancels what is queued (the stages under way finish; each
    artifact is written atomically)."""

    def __init__(self, writer: ProgressWriter, report: Reporter, beside_report: Reporter, overlap: bool) -> None:
        """`report` tells the progress file and the terminal; `beside_report`, the terminal alone (the file shows
        the main lane's steps, and those of the trainings run together, which the main lane waits for)."""
        self._writer, self._report, self._beside_report = writer, report, beside_report
        self._side = ThreadPoolExecutor(1, thread_name_prefix="cpu-lane") if overlap else None
        self._together = ThreadPoolExecutor(TOGETHER_AT_MOST, thread_name_prefix="together") if overlap else None
        self._device = default_device()
        self._budget: MemoryBudget | None = None
        self._queued: list[tuple[str, Future[None]]] = []
        self._training: list[tuple[str, Future[None]]] = []
        self.failed: str | None = None
        """The stage run beside the main lane whose error `join` raised."""

    def __enter__(self) -> "Lanes":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for pool in (self._together, self._side):
            if pool is not None:
                pool.shutdown(wait=error is None, cancel_futures=error is not None)

    def run(self, artifact: Artifact) -> None:
        if self._side is not None and artifact.cpu_bound:
            self._queued.append((artifact.name, self._side.submit(self._beside, artifact)))
            return
        if self._together is not None and artifact.together:
            if not self._training:  # the main stage before it is over; the budget is what that left free
                self._writer.close_stage()
                self._budget = MemoryBudget(_share(free_memory(self._device)))
            self._training.append((artifact.name, self._together.submit(self._alongside, artifact)))
            return
        self._wait(self._training)
        self._writer.stage(artifact.name)
        if not artifact.is_current():
            artifact.compute(self._report)

    def _beside(self, artifact: Artifact) -> None:
        with self._writer.beside(artifact.name):
            if not artifact.is_current():
                artifact.compute(self._beside_report)

    def _alongside(self, artifact: Artifact) -> None:
        """Compute `artifact` once the budget holds it (listed as under way from then)."""
        assert self._budget is not None
        current = artifact.is_current()
        with self._budget.hold(0 if current else artifact.device_bytes()), self._writer.beside(artifact.name):
            if not current:
                with own_stream(self._device):
                    artifact.compute(self._report)

    def _wait(self, futures: list[tuple[str, Future[None]]]) -> None:
        """Wait for every one of `futures`; raises the first one's error (naming its stage in `failed`)."""
        for name, future in futures:
            error = future.exception()
            if error is not None:
                self.failed = name
                raise error
        futures.clear()

    def join(self) -> None:
        """Close the main lane's stage, then wait for every stage run beside it."""
        self._writer.close_stage()
        self._wait(self._training)
        self._wait(self._queued)


def _share(free: int | None) -> int | None:
    return None if free is None else int(free * MEMORY_SHARE)
