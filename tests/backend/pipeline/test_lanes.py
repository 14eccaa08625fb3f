"""The build's lanes: CPU-bound stages run beside the others and the second seeds train together when asked (by
default on a GPU), as many at once as the memory budget admits, and make the same files as a build of one lane."""

import contextlib
import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest
import torch

from backend.cli import main
from backend.core.artifacts import Artifact
from backend.core.progress import Reporter, silent
from backend.explore.latent_map import LatentMap
from backend.lenses.kinds.facets import Facets
from backend.pipeline.build import build_release, plan
from backend.pipeline.lanes import Lanes, MemoryBudget, overlaps
from backend.pipeline.members import TrainedSAE
from backend.pipeline.profiles import PROFILES
from backend.pipeline.progress import ProgressWriter, read_progress
from backend.sources.catalog import get_release
from backend.sources.release import Release

RUN_RECORDS = {"build-progress.json", "build.log", "build.lock"}


SEED_METRICS = "sae-64-seed2/metrics.json"
"""Measured on the thread that trained the seed: where it trained beside others, a sum's last bits may differ (FVU by
1.3e-7 under pytest-xdist's one thread a process); its weights are the same bit for bit."""


def _digests(release: Release) -> dict[str, str]:
    """Every file the build made, but for its records of the run, its scratch (a training checkpoint holds
    torch.save's random serialisation id) and the second seed's metrics (`_seed_metrics`)."""
    root = release.paths.root
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in RUN_RECORDS and path.suffix != ".pt"
        and str(path.relative_to(root)) != SEED_METRICS
    }  # fmt: skip


def _seed_metrics(release: Release) -> dict[str, float]:
    return json.loads((release.paths.root / SEED_METRICS).read_text())


def _forget_the_tail(release: Release) -> None:
    """Remove what the build makes after the stitching curves: maps, the second seed and the lenses, so a rebuild
    runs CPU-bound and GPU stages together."""
    for folder in (release.paths.root / "maps", release.paths.root / "lenses", release.paths.folder("sae-64-seed2")):
        shutil.rmtree(folder)
    release.paths.checkpoint("64-seed2").unlink()  # trained from the start, not resumed


def _threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Which thread computed each map, facets table and SAE (filled as the build runs)."""
    seen: dict[str, str] = {}
    for kind in (LatentMap, Facets, TrainedSAE):
        original = kind.compute

        def spy(self, report, original=original):  # type: ignore[no-untyped-def]
            seen[self.name] = threading.current_thread().name
            return original(self, report)

        monkeypatch.setattr(kind, "compute", spy)
    return seen


def test_overlap_is_the_default_on_a_gpu_only() -> None:
    assert overlaps(torch.device("cuda")) and not overlaps(torch.device("cpu"))


def test_only_maps_and_facets_leave_the_main_lane_and_only_second_seeds_train_together(tiny_release: str) -> None:
    beside = [a.name for a in plan(get_release(tiny_release), PROFILES["tiny"]).artifacts if a.cpu_bound]
    assert beside == ["map SAE-64", "map SAE-128", "facets SAE-64", "facets SAE-128"]
    together = [a.name for a in plan(get_release("tiny-matryoshka"), PROFILES["tiny"]).artifacts if a.together]
    assert together == ["train SAE-128-seed2"]  # the one training both its second seeds read


def test_an_overlapped_build_makes_the_same_files_as_one_lane(
    tiny_copy: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """One lane, then two, from the same start, in this process (its thread count decides the last bits of the
    metrics' sums, so the session's build, made elsewhere, is no reference)."""
    release = get_release(tiny_copy)
    threads = _threads(monkeypatch)
    _forget_the_tail(release)
    build_release(release, "tiny", report=lambda *_: None)  # on the CPU: one lane by default
    assert set(threads.values()) == {threading.main_thread().name}
    one_lane, one_lane_metrics = _digests(release), _seed_metrics(release)
    threads.clear()
    _forget_the_tail(release)
    main(["build", "--release", tiny_copy, "--profile", "tiny", "--overlap"])
    assert _digests(release) == one_lane
    assert _seed_metrics(release) == pytest.approx(one_lane_metrics, rel=1e-6)
    assert set(threads) == {"map SAE-64", "map SAE-128", "facets SAE-64", "facets SAE-128", "train SAE-64-seed2"}
    assert threads.pop("train SAE-64-seed2").startswith("together")
    assert all(name.startswith("cpu-lane") for name in threads.values())
    progress = read_progress(release)
    assert progress is not None and progress.state == "complete" and progress.beside == []
    assert set(progress.finished) == set(progress.stages)
    said = capsys.readouterr().out
    assert f"{tiny_copy}: {progress.wall():.0f} s in this run" in said
    assert f"{tiny_copy}: inputs loaded in this run, within those stages: {progress.inputs_said()}" in said


def test_a_side_stage_that_fails_fails_the_build_naming_it_and_a_rerun_resumes(
    tiny_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = get_release(tiny_copy)
    _forget_the_tail(release)

    def broken(self, report):  # type: ignore[no-untyped-def]
        raise RuntimeError("UMAP ran out of memory")

    working = LatentMap.compute
    monkeypatch.setattr(LatentMap, "compute", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        build_release(release, "tiny", report=lambda *_: None, overlap=True)
    progress = read_progress(release)
    assert progress is not None and progress.state == "failed"
    assert progress.stage == "map SAE-64" and "UMAP ran out of memory" in progress.error
    monkeypatch.setattr(LatentMap, "compute", working)
    assert build_release(release, "tiny", report=lambda *_: None, overlap=True)["complete"]
    assert [a.name for a in plan(release, PROFILES["tiny"]).artifacts if not a.is_current()] == []


class _Stage(Artifact[None]):
    """A stage that records when it ran, and meets the others of its `meeting` there (so it fails unless they run
    at the same time)."""

    def __init__(
        self, name: str, log: list[str], together: bool = False, meeting: threading.Barrier | None = None,
        patience: float = 10.0,
    ):  # fmt: skip
        self._name, self._log, self.together, self._meeting, self.done = name, log, together, meeting, False
        self._patience = patience

    @property
    def name(self) -> str:
        return self._name

    def files(self) -> list[Path]:
        return []

    def key(self) -> str:
        return "k"

    def stored_key(self) -> str | None:
        return "k" if self.done else None

    def load(self) -> None:
        return None

    def device_bytes(self) -> int:
        return 4

    def compute(self, report: Reporter = silent) -> None:
        if self._meeting is not None:
            with contextlib.suppress(threading.BrokenBarrierError):  # the test asks whether it broke
                self._meeting.wait(timeout=self._patience)
        self._log.append(self._name)
        self.done = True


def _lanes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: list[str]) -> tuple[Lanes, ProgressWriter]:
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    writer = ProgressWriter(get_release("tiny"), names, "tiny")
    return Lanes(writer, writer.report, silent, overlap=True), writer


def test_trainings_run_together_and_the_next_main_stage_waits_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    meeting = threading.Barrier(3)
    seeds = [_Stage(f"seed {n}", log, together=True, meeting=meeting) for n in range(3)]
    after = _Stage("lens", log)
    lanes, writer = _lanes(tmp_path, monkeypatch, [s.name for s in (*seeds, after)])
    with lanes:
        for stage in (*seeds, after):
            lanes.run(stage)
        lanes.join()
    assert not meeting.broken  # all three were under way at once
    assert sorted(log[:3]) == ["seed 0", "seed 1", "seed 2"] and log[3] == "lens"
    assert set(writer.progress.finished) == {"seed 0", "seed 1", "seed 2", "lens"} and writer.progress.beside == []


def test_trainings_that_do_not_fit_the_memory_budget_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 4 bytes each in a budget of 10 bytes, two meet and the third cannot join them: the meeting of three breaks
    and each training still runs."""
    monkeypatch.setattr("backend.pipeline.lanes.free_memory", lambda device: 12)  # 10 bytes at MEMORY_SHARE 0.8
    log: list[str] = []
    meeting = threading.Barrier(3)
    lanes, _ = _lanes(tmp_path, monkeypatch, ["a", "b", "c"])
    with lanes:
        for name in ("a", "b", "c"):
            lanes.run(_Stage(name, log, together=True, meeting=meeting, patience=0.5))
        lanes.join()
    assert meeting.broken and sorted(log) == ["a", "b", "c"]


def test_a_memory_budget_holds_what_fits_and_lets_one_too_large_run_alone() -> None:
    budget = MemoryBudget(10)
    held: list[int] = []
    seen: list[list[int]] = []
    lock = threading.Lock()
    entered = threading.Barrier(2)

    def job(size: int, meet: bool) -> None:
        with budget.hold(size):
            with lock:
                held.append(size)
                seen.append(list(held))
            if meet:
                entered.wait(timeout=10)  # the two 5s must be admitted together
            with lock:
                held.remove(size)

    threads = [threading.Thread(target=job, args=(5, True)) for _ in range(2)]
    threads += [threading.Thread(target=job, args=(size, False)) for size in (12, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not entered.broken
    assert all(sum(now) <= 10 or now == [12] for now in seen) and [12] in seen
