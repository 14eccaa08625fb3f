"""What a running build tells the app: its stages, the one under way and how far it is, in one file.

The embedded build runs behind the app (`python -m backend build --background`), so the app can open
as soon as the first SAE and its index are ready. The build writes `ReleasePaths.progress`
(atomically, at most every `WRITE_EVERY` seconds and at every stage change); the overview page reads
it. One build per release at a time: `build_lock` holds an exclusive `flock` on `ReleasePaths.lock`
for the whole run, and the kernel drops it when the process dies, so a killed build never leaves a
stale lock and the next build resumes.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from backend.core.config import PROJECT_ROOT
from backend.core.errors import AtlasError
from backend.core.files import locked, write_json_atomic
from backend.sources.release import Release

WRITE_EVERY = 1.0
State = Literal["running", "complete", "failed", "stopped"]


class BuildRunning(AtlasError):
    """Another process is building this release."""


@dataclass
class BuildProgress:
    stages: list[str]
    """Every stage of the build, in order."""
    finished: list[str] = field(default_factory=list)
    stage: str = ""
    """The stage under way."""
    step: str = ""
    """What the stage is doing now (a stage can report several kinds of step)."""
    done: int = 0
    total: int = 0
    state: State = "running"
    error: str = ""
    pid: int = 0
    updated: float = 0.0
    profile: str = "default"
    """The build profile (backend/pipeline/profiles.py) it runs."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds each finished stage took in this run (a stage found current takes about none)."""
    started: dict[str, float] = field(default_factory=dict)
    """When each stage begun in this run began, in wall seconds from the run's start."""
    beside: list[str] = field(default_factory=list)
    """The stages under way beside `stage` (a build on a GPU runs its CPU-bound stages concurrently,
    backend/pipeline/lanes.py)."""
    inputs: dict[str, float] = field(default_factory=dict)
    """Wall seconds the stages' shared inputs took to load or make in this run (the language model, converted on a
    fresh machine; the corpus and its activations), counted in the seconds of the stage that first read them."""

    def reached(self, stage: str) -> float | None:
        """Wall seconds this run took to reach `stage`, None before it has."""
        return self.started.get(stage)

    def wall(self) -> float:
        """Wall seconds from the run's start to the last stage's end (less than the stages' seconds together when
        some ran beside others)."""
        ends = [self.started[name] + seconds for name, seconds in self.seconds.items() if name in self.started]
        if len(ends) < len(self.seconds):  # written before starts were recorded, when stages ran one at a time
            return sum(self.seconds.values())
        return max(ends, default=0.0)

    def inputs_said(self) -> str:
        """`inputs` as `build` and the build panel say them, the longest first."""
        spent = sorted(self.inputs.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in spent)

    @property
    def fraction(self) -> float:
        """Stages finished plus the fraction of the current one, over all stages."""
        current = self.done / self.total if self.total and self.stage not in self.finished else 0.0
        return min(1.0, (len(self.finished) + current) / max(1, len(self.stages)))


def progress_path(release: Release) -> Path:
    return release.paths.progress


def read_progress(release: Release) -> BuildProgress | None:
    """The last progress the build wrote, or None when no build ever ran. A build whose process is
    gone without saying it finished reads as "stopped" (killed: the next build resumes it)."""
    try:
        raw = json.loads(progress_path(release).read_text())
        progress = BuildProgress(**raw)
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    if progress.state == "running" and not _alive(progress.pid):
        progress.state = "stopped"
    return progress


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProgressWriter:
    """Keeps `BuildProgress` up to date on disk; call `stage()` as each stage starts, and `beside()` for a stage run
    beside them (from another thread: every change is made under one lock)."""

    def __init__(self, release: Release, stages: list[str], profile: str) -> None:
        self.path = progress_path(release)
        self.progress = BuildProgress(stages=stages, pid=os.getpid(), profile=profile)
        self._written = 0.0
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def _now(self) -> float:
        return round(time.monotonic() - self._start, 2)

    def _begin(self, name: str) -> None:
        self.progress.started[name] = self._now()

    def _end(self, name: str) -> None:
        if name and name not in self.progress.finished:
            self.progress.finished.append(name)
            self.progress.seconds[name] = round(self._now() - self.progress.started.get(name, 0.0), 2)

    def stage(self, name: str) -> None:
        with self._lock:
            self._end(self.progress.stage)
            self._begin(name)
            self.progress.stage, self.progress.step, self.progress.done, self.progress.total = name, name, 0, 0
            self._write(force=True)

    def close_stage(self) -> None:
        """The main stage under way is over (the next is not yet begun)."""
        with self._lock:
            self._end(self.progress.stage)
            self._write(force=True)

    @contextmanager
    def beside(self, name: str) -> Iterator[None]:
        """Stage `name` runs beside the main stages for the `with` block; finished when the block ends without
        an error."""
        with self._lock:
            self._begin(name)
            self.progress.beside.append(name)
            self._write(force=True)
        try:
            yield
        except BaseException:
            self._leave(name, finished=False)
            raise
        self._leave(name, finished=True)

    def _leave(self, name: str, finished: bool) -> None:
        with self._lock:
            self.progress.beside.remove(name)
            if finished:
                self._end(name)
            self._write(force=True)

    def loaded(self, what: str, seconds: float) -> None:
        """The shared input `what` took `seconds` to load or make."""
        with self._lock:
            self.progress.inputs[what] = round(seconds, 2)
            self._write(force=True)

    def report(self, step: str, done: int, total: int) -> None:
        with self._lock:
            self.progress.step, self.progress.done, self.progress.total = step, done, total
            self._write(force=False)

    def finish(self, state: State, error: str = "", stage: str | None = None) -> None:
        """`stage`: the stage it failed at, where that is one run beside the main stages."""
        with self._lock:
            if state == "complete":
                self._end(self.progress.stage)
            self.progress.state, self.progress.error = state, error
            self.progress.stage = stage or self.progress.stage
            self._write(force=True)

    def _write(self, force: bool) -> None:
        now = time.time()
        if force or now - self._written >= WRITE_EVERY:
            self.progress.updated = now
            write_json_atomic(self.path, asdict(self.progress))
            self._written = now


@contextmanager
def build_lock(release: Release) -> Iterator[None]:
    """Exclusive right to build `release`; raises BuildRunning at once if another process holds it."""
    with ExitStack() as held:
        try:
            held.enter_context(locked(release.paths.lock, wait=False))
        except BlockingIOError as err:
            raise BuildRunning(
                f"Release {release.id!r} is being built by another process; its progress is on the overview page."
            ) from err
        yield


def start_background_build(release: Release, profile: str, overlap: bool | None = None) -> tuple[int, Path]:
    """`python -m backend build` for `release` in a detached process (it outlives the caller, so the
    app's server can stop and start again without stopping the build); returns its pid and log file."""
    release.paths.root.mkdir(parents=True, exist_ok=True)
    log = release.paths.log
    command = [sys.executable, "-m", "backend", "build", "--release", release.id, "--profile", profile]
    command += [] if overlap is None else ["--overlap" if overlap else "--no-overlap"]
    with log.open("a") as handle:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    return process.pid, log
