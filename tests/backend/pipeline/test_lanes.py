"""The build's side lane: CPU-bound stages run beside the others when asked (by default on a GPU), and make the same
files as a build of one lane."""

import hashlib
import shutil
import threading

import pytest
import torch

from backend.cli import main
from backend.explore.latent_map import LatentMap
from backend.lenses.kinds.facets import Facets
from backend.pipeline.build import build_release, plan
from backend.pipeline.lanes import overlaps
from backend.pipeline.profiles import PROFILES
from backend.pipeline.progress import read_progress
from backend.sources.catalog import get_release
from backend.sources.release import Release

RUN_RECORDS = {"build-progress.json", "build.log", "build.lock"}


def _digests(release: Release) -> dict[str, str]:
    """Every file the build made, but for its records of the run and its scratch (a training checkpoint holds
    torch.save's random serialisation id)."""
    root = release.paths.root
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in RUN_RECORDS and path.suffix != ".pt"
    }


def _forget_the_tail(release: Release) -> None:
    """Remove what the build makes after the stitching curves: maps, the second seed and the lenses, so a rebuild
    runs CPU-bound and GPU stages together."""
    for folder in (release.paths.root / "maps", release.paths.root / "lenses", release.paths.folder("sae-64-seed2")):
        shutil.rmtree(folder)
    release.paths.checkpoint("64-seed2").unlink()  # trained from the start, not resumed


def _threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Which thread computed each map and facets table (filled as the build runs)."""
    seen: dict[str, str] = {}
    for kind in (LatentMap, Facets):
        original = kind.compute

        def spy(self, report, original=original):  # type: ignore[no-untyped-def]
            seen[self.name] = threading.current_thread().name
            return original(self, report)

        monkeypatch.setattr(kind, "compute", spy)
    return seen


def test_overlap_is_the_default_on_a_gpu_only() -> None:
    assert overlaps(torch.device("cuda")) and not overlaps(torch.device("cpu"))


def test_only_maps_and_facets_leave_the_main_lane(tiny_release: str) -> None:
    beside = [a.name for a in plan(get_release(tiny_release), PROFILES["tiny"]).artifacts if a.cpu_bound]
    assert beside == ["map SAE-64", "map SAE-128", "facets SAE-64", "facets SAE-128"]


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
    one_lane = _digests(release)
    threads.clear()
    _forget_the_tail(release)
    main(["build", "--release", tiny_copy, "--profile", "tiny", "--overlap"])
    assert _digests(release) == one_lane
    assert set(threads) == {"map SAE-64", "map SAE-128", "facets SAE-64", "facets SAE-128"}
    assert all(name.startswith("cpu-lane") for name in threads.values())
    progress = read_progress(release)
    assert progress is not None and progress.state == "complete" and progress.beside == []
    assert set(progress.finished) == set(progress.stages)
    assert f"{tiny_copy}: {progress.wall():.0f} s in this run" in capsys.readouterr().out


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
