"""Every benchmark runs: each script at its smallest settings (on the tiny release where it reads one), as a user
runs it, so none can rot. What it prints is not checked here; BENCHMARKS.md records the full-size figures."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ("--release", "tiny")
SMALL = {
    "bench_cards.py": ("--latents", "256", "--samples", "3"),
    "bench_decompose.py": ("--d-sae", "512", "--n-meta", "32", "--repeats", "1"),
    "bench_map.py": ("--umap-latents", "64", "--page-latents", "256", "--samples", "1"),
    "bench_lineage.py": TINY,
    "bench_built_family.py": TINY,
    "bench_showcase.py": (*TINY, "--sae", "128", "--top", "2"),
    "bench_polysemy.py": (*TINY, "--hooks", "blocks.1.hook_resid_pre"),
    "bench_steer.py": (*TINY, "--repeats", "1", "--tokens", "2"),
    "bench_meta_sweep.py": (*TINY, "--sae", "128", "--sizes", "8", "--k", "2"),
    "bench_stitching.py": ("--small", "64", "--large", "128"),
    "bench_seed_alignment.py": ("--release", "tiny", "--sizes", "256"),
    "bench_lenses.py": (*TINY, "--profile", "tiny", "--floors", "0.1", "--cuts", "0.8"),
    "bench_gba.py": ("--tiny",),
    "bench_matryoshka_toy.py": ("--seeds", "1", "--epochs", "1"),
    "bench_visitor_costs.py": (*TINY, "--pairs", "2", "--epochs", "1", "--d-meta", "8"),
    "bench_matryoshka_family.py": (*TINY, "--profile", "tiny", "--k", "4", "--eval-tokens", "500"),
    "bench_families.py": ("--built",),
    "bench_build_lanes.py": (*TINY, "--profile", "tiny"),
    "bench_train_syncs.py": ("--d-sae", "64", "--d-in", "16", "--batch", "64", "--steps", "2"),
}
SLOW_OR_ELSEWHERE = {
    "bench_gpu.py": "runs on the lent GPU machine (benchmarks/gpu.sh); its --tiny mode takes minutes on 2 CPU cores",
    "bench_hook_sweep.py": "trains a family per block; its --tiny mode alone takes 30 s",
    "bench_add.py": "adds a Hub-sized family (minutes)",
    "bench_index.py": "times the GPT-2-shape index against SAEDashboard's (minutes)",
    "bench_family.py": "trains candidate families (an hour)",
    "bench_load.py": "drives Chromium sessions for a set time",
    "bench_load_protocol.py": "serves sessions for a set time",
    "bench_ray_family.py": "starts a Ray cluster",
    "bench_ray_index.py": "starts a Ray cluster (tests/backend/cluster covers the same path)",
    "bench_model_convert.py": "converts the real model twice a run (25 s); tests/backend/models/test_embedded.py "
    "checks that the two conversions agree",
    "bench_paper_scale.py": "takes a family through add, index, train-meta, stitch, lenses and maps: 2.5 minutes at "
    "its smallest (--sizes 96 192 --contexts 64), each command covered by tests/backend",
}


def test_every_benchmark_is_run_here_or_says_why_not() -> None:
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == set(SMALL) | set(SLOW_OR_ELSEWHERE)


def _run(script: str) -> str:
    """What went wrong running `script` at its smallest settings ("" when it ran and printed its figures)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *SMALL[script]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        return f"{script} failed:\n{done.stderr[-2000:]}"
    return "" if done.stdout.strip() else f"{script} printed nothing"


@pytest.mark.slow
def test_every_benchmark_runs_at_its_smallest_settings(tiny_release: str) -> None:
    # Two at a time: most of each run is starting Python and loading the model, one core's work.
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [said for said in pool.map(_run, sorted(SMALL)) if said]
    assert not failures, "\n\n".join(failures)
