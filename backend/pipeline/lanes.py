"""Two lanes for one build. On a GPU, the stages that compute on the CPU whatever the device (a latent map's UMAP,
facets' clustering of contexts: `Artifact.cpu_bound`) run in a thread beside the stages that use the GPU, so they
leave the build's critical path. On a CPU alone they would compete with the other stages for the same cores (torch
takes all of them), so there the build runs one lane unless told otherwise.

A CPU-bound artifact is queued when the main lane reaches it in the plan, so everything before it is done; nothing
later in a plan reads it (so the main lane never waits on the side lane, except before the app counts as usable
and at the end). The side lane runs its artifacts one at a time, in plan order. Every artifact draws its randomness
from its own seeded generators, so the files are the same whichever lane made them (tests/backend/pipeline/
test_lanes.py).
"""

from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import torch

from backend.core.artifacts import Artifact
from backend.core.progress import Reporter
from backend.pipeline.progress import ProgressWriter


def overlaps(device: torch.device) -> bool:
    """Whether a build computing on `device` runs CPU-bound stages beside the others by default."""
    return device.type != "cpu"


class Lanes:
    """Runs a plan's artifacts in order, each unless current: on the main lane as it comes, or, with `overlap`, a
    CPU-bound one queued on the side lane (one thread). Use as a context manager: leaving it on an error cancels
    what is queued (the stage under way beside finishes; each artifact is written atomically)."""

    def __init__(self, writer: ProgressWriter, report: Reporter, beside_report: Reporter, overlap: bool) -> None:
        """`report` tells the progress file and the terminal; `beside_report`, the terminal alone (the file shows
        the main lane's steps)."""
        self._writer, self._report, self._beside_report = writer, report, beside_report
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cpu-lane") if overlap else None
        self._queued: list[tuple[str, Future[None]]] = []
        self.failed: str | None = None
        """The side stage whose error `join` raised."""

    def __enter__(self) -> "Lanes":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=error is None, cancel_futures=error is not None)

    def run(self, artifact: Artifact) -> None:
        if self._pool is not None and artifact.cpu_bound:
            self._queued.append((artifact.name, self._pool.submit(self._beside, artifact)))
            return
        self._writer.stage(artifact.name)
        if not artifact.is_current():
            artifact.compute(self._report)

    def _beside(self, artifact: Artifact) -> None:
        with self._writer.beside(artifact.name):
            if not artifact.is_current():
                artifact.compute(self._beside_report)

    def join(self) -> None:
        """Close the main lane's stage, then wait for every queued one; raises the first one's error (naming it
        in `failed`)."""
        self._writer.close_stage()
        for name, future in self._queued:
            error = future.exception()
            if error is not None:
                self.failed = name
                raise error
        self._queued.clear()
