"""The build's lanes (issue 47, item 2): the embedded family's tail (latent maps, second seeds, every lens) rebuilt
with the CPU-bound stages on the main lane and the second seeds trained one after another (`build --no-overlap`, the
CPU's default), and with the CPU-bound stages beside the main lane and the seeds trained together (`--overlap`, a
GPU's default), timing the command a user runs. Each run starts from a copy of a built data directory (hard links:
every artifact is written to a new file and renamed, so the copy never writes the original) with the tail removed.

Prints the memory estimate that admits each second seed to train beside the others on a GPU, then each run's wall
seconds, the second seeds' own seconds and the wall from the first one's start to the last
one's end (less than their own when they trained together), the seconds of its other main-lane stages (the critical
path once the CPU-bound stages run beside them on a machine with cores to spare) and of its CPU-bound stages, and the
ratio of the two runs.

    .venv/bin/python benchmarks/bench_build_lanes.py [--data DIR]    # DIR: a built data dir (default ATLAS_DATA_DIR)
    .venv/bin/python benchmarks/bench_build_lanes.py --release tiny --profile tiny     # the test catalog's
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.core.config import DATA_DIR_ENV, data_dir  # noqa: E402
from backend.pipeline.build import plan  # noqa: E402
from backend.pipeline.profiles import PROFILES  # noqa: E402
from backend.pipeline.progress import BuildProgress, read_progress  # noqa: E402
from backend.sources.catalog import default_release_id, get_release, load_catalog, trained_from  # noqa: E402
from backend.sources.release import Release  # noqa: E402

TAIL = ("maps", "lenses")
"""Folders of the release removed before each run, with its second seeds' folders and checkpoints."""


def _copy(built: Path, into: Path, release_ids: list[str]) -> None:
    shutil.copytree(built / "models", into / "models", copy_function=os.link)
    for rid in release_ids:
        shutil.copytree(built / "releases" / rid, into / "releases" / rid, copy_function=os.link)


def _forget_tail(release: Release) -> None:
    for folder in (
        *(release.paths.root / name for name in TAIL),
        *(Path(s.location.path) for s in release.second_seeds),
    ):
        shutil.rmtree(folder, ignore_errors=True)
    for seed in release.second_seeds:  # trained from the start, not resumed from its last checkpoint
        release.paths.checkpoint(seed.id).unlink(missing_ok=True)


def _run(built: Path, release_id: str, profile: str, others: list[str], overlap: bool) -> tuple[float, BuildProgress]:
    with tempfile.TemporaryDirectory(prefix="bench-lanes-") as scratch:
        data = Path(scratch)
        _copy(built, data, [release_id, *others])
        os.environ[DATA_DIR_ENV] = str(data)
        _forget_tail(get_release(release_id))
        flag = "--overlap" if overlap else "--no-overlap"
        command = [sys.executable, "-m", "backend", "build", "--release", release_id, "--profile", profile, flag]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        whole = time.perf_counter() - started
        progress = read_progress(get_release(release_id))
        assert progress is not None and progress.state == "complete"
        return whole, progress


def _span(progress: BuildProgress, names: set[str]) -> float:
    """Wall seconds from the first of `names` to start to the last to end."""
    starts = [progress.started[name] for name in names]
    ends = [progress.started[name] + progress.seconds[name] for name in names]
    return max(ends) - min(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="a data directory with the release built")
    parser.add_argument("--release", help="a built release (default: the embedded one)")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES), help="the profile it was built with")
    args = parser.parse_args()
    built = (args.data or data_dir()).resolve()
    os.environ[DATA_DIR_ENV] = str(built)
    release = get_release(args.release or default_release_id(load_catalog()))
    others = [other.id for other in trained_from(release)]
    artifacts = plan(release, PROFILES[args.profile]).artifacts
    cpu_bound = {a.name for a in artifacts if a.cpu_bound}
    seeds = {a.name for a in artifacts if a.together}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {release.id}, its tail")
    estimates = ", ".join(f"{a.name} {a.device_bytes() / 1e6:,.0f} MB" for a in artifacts if a.together)
    print(f"device memory each second seed's training holds, as the build estimates it: {estimates}")
    print("| build | command wall s | second seeds: own s / wall s | other main-lane stages s | CPU-bound stages s |")
    print("| --- | --- | --- | --- | --- |")
    walls = {}
    for overlap in (False, True):
        whole, progress = _run(built, release.id, args.profile, others, overlap)
        seconds = progress.seconds
        beside = sum(s for name, s in seconds.items() if name in cpu_bound)
        trained = sum(seconds[name] for name in seeds)
        main_lane = sum(seconds.values()) - beside - trained
        walls[overlap] = whole
        print(
            f"| {'--overlap' if overlap else '--no-overlap'} | {whole:.1f} | {trained:.1f} / "
            f"{_span(progress, seeds):.1f} | {main_lane:.1f} | {beside:.1f} |"
        )
    print(f"--overlap / --no-overlap: {walls[True] / walls[False]:.2f}x")


if __name__ == "__main__":
    main()
