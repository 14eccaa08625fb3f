"""A build killed (SIGKILL) at random moments and rerun ends with the same tensors, tables and metrics as an
uninterrupted build (the run's shared build of both tiny families); a build over a different profile's files redoes
what differs instead of mixing them."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from backend.core.errors import AtlasError
from backend.pipeline.build import build_release
from backend.sources.catalog import get_release

ROOT = Path(__file__).resolve().parents[3]
KILLS = 1
"""Kill points per test run, drawn from a seeded generator over the length of an uninterrupted build (each costs a
tiny build's time in the suite; tests/backend/index and tests/backend/training kill their passes at more points)."""


def build(data: Path, kill_after: float | None = None) -> None:
    """`python -m backend build --profile tiny` into `data`; killed with SIGKILL after `kill_after` seconds."""
    env = {**os.environ, "ATLAS_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "build", "--release", "tiny", "--profile", "tiny"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=600) in (0, -signal.SIGKILL)


def snapshot(data: Path) -> dict[str, Any]:
    """Everything a build produces that the app reads, as comparable values, for every release it built."""
    out: dict[str, Any] = {}
    releases = data / "releases"
    for path in sorted(releases.rglob("*")):
        rel = str(path.relative_to(releases))
        if "work" in path.relative_to(releases).parts or path.is_dir() or path.name.startswith(("build", ".")):
            continue
        if path.suffix == ".safetensors":
            out[rel] = {k: v.numpy().tolist() for k, v in load_file(str(path)).items()}
        elif path.suffix == ".pt":
            out[rel] = {k: v.numpy().tolist() for k, v in torch.load(path, weights_only=True).items()}
        elif path.suffix == ".parquet":
            out[rel] = pd.read_parquet(path).to_json()
        elif path.suffix == ".npy":
            out[rel] = np.load(path).tolist()
        elif path.name == "meta.json":
            meta = json.loads(path.read_text())
            meta.pop("manifest")  # file bytes (Parquet writer metadata) may differ; contents are compared above
            out[rel] = meta
        elif path.suffix == ".json":
            out[rel] = json.loads(path.read_text())
    return out


@pytest.mark.slow
def test_a_build_killed_at_random_moments_ends_as_an_uninterrupted_one(tiny_copy: str, tmp_path: Path) -> None:
    whole = Path(os.environ["ATLAS_DATA_DIR"])  # the run's uninterrupted build of both families, as built
    expected = snapshot(whole)
    assert {name.split("/")[0] for name in expected} == {"tiny", "tiny-matryoshka"}
    duration = sum(sum(json.loads(path.read_text())["seconds"].values()) for path in whole.rglob("build-progress.json"))
    draw = random.Random(20261129)
    killed = tmp_path / "killed"
    for _ in range(KILLS):
        build(killed, kill_after=draw.uniform(0.15, 0.85) * duration)
    build(killed)
    got = snapshot(killed)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name] == value, name


@pytest.mark.slow
def test_a_build_over_another_profiles_files_redoes_what_differs(
    tiny_release: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny profile's files (the session's build, copied) under a profile that wants other contexts: the corpus
    is made again and every SAE retrained, never reused (was: a reused corpus, a NaN norm cap and "complete")."""
    import shutil

    from backend.pipeline import build as pipeline

    shutil.copytree(data_dir, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    release = get_release(tiny_release)
    first = snapshot(tmp_path)
    other = pipeline.PROFILES["tiny"].__class__(**{**pipeline.PROFILES["tiny"].__dict__, "n_contexts": 44, "seed": 1})
    monkeypatch.setitem(pipeline.PROFILES, "other", other)
    summary = build_release(release, "other", report=lambda *_: None)
    second = snapshot(tmp_path)
    assert summary["complete"] and summary["tokens"]["contexts"] == 44
    for name in ("sae-64/sae_weights.safetensors", "sae-128/sae_weights.safetensors", "index/64/latents.parquet"):
        assert first[f"tiny/{name}"] != second[f"tiny/{name}"], f"{name} was reused from the other profile"
    assert np.isfinite(summary["norm_cap"])


def test_a_profile_too_small_for_its_split_is_refused() -> None:
    from backend.pipeline.profiles import PROFILES

    with pytest.raises(AtlasError, match="cannot hold out"):
        PROFILES["tiny"].__class__(**{**PROFILES["tiny"].__dict__, "n_contexts": 6})
