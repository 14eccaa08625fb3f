"""The embedded build as named stages: usable after the first SAE and its index, resumable, one at a time."""

from pathlib import Path

import pytest

from backend.pipeline.build import LANGUAGE_MODEL, USABLE, build_release, plan, read_summary, ready_saes
from backend.pipeline.profiles import PROFILES
from backend.pipeline.progress import BuildRunning, build_lock, read_progress
from backend.sources.catalog import get_release


def test_the_plan_puts_the_first_sae_and_its_index_before_usable(tiny_release: str) -> None:
    names = plan(get_release(tiny_release), PROFILES["tiny"]).stage_names()
    assert names[: names.index(USABLE) + 1] == ["train SAE-64", "index SAE-64", USABLE]
    assert names[names.index(USABLE) + 1 :] == [
        "train SAE-128", "index SAE-128", "train meta-128", "matching SAE-64→128", "stitching curves",
        "map SAE-64", "map SAE-128", "facets SAE-64", "facets SAE-128", "train SAE-64-seed2", "seed alignment SAE-64",
        "co-firing SAE-64→128", "absorption SAE-64", "absorption SAE-128",
    ]  # fmt: skip


def test_every_artifact_of_a_complete_build_is_current(tiny_release: str) -> None:
    build = plan(get_release(tiny_release), PROFILES["tiny"])
    assert [a.name for a in build.artifacts if not a.is_current()] == []


@pytest.mark.slow
def test_build_until_usable_then_resume_to_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    release = get_release("tiny")
    partial = build_release(release, "tiny", report=lambda *_: None, until=USABLE)
    assert partial["complete"] is False
    assert ready_saes(release) == ["64"]
    progress = read_progress(release)
    assert progress is not None and progress.state == "stopped" and progress.stage == USABLE
    assert progress.reached(USABLE) == pytest.approx(sum(progress.seconds.values()), abs=0.05)
    assert progress.reached(USABLE) > 0
    assert set(progress.inputs) == {LANGUAGE_MODEL, "corpus and activations"}  # loaded by the first stage
    assert sum(progress.inputs.values()) <= progress.seconds["train SAE-64"]
    assert not release.paths.folder("meta-128").exists()

    summary = build_release(release, "tiny", report=lambda *_: None)
    assert summary["complete"] and read_summary(release) == summary
    assert ready_saes(release) == ["64", "128"]
    progress = read_progress(release)
    assert progress is not None and progress.state == "complete" and progress.fraction == 1.0
    assert set(summary["metrics"]) == {"64", "128", "meta-128"}
    assert set(progress.seconds) == set(progress.stages) and all(s >= 0 for s in progress.seconds.values())
    assert progress.seconds["train SAE-128"] > progress.seconds["train SAE-64"]  # this run trained only the first


def test_a_second_build_of_the_same_release_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    release = get_release("tiny")
    with build_lock(release), pytest.raises(BuildRunning, match="being built by another process"):
        build_release(release, "tiny", report=lambda *_: None)


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"objective": "l1", "lr": "fast"}, "lr must be a number"),
        ({"objective": "jumprelu"}, "objective must be one of 'l1', 'batchtopk', 'gba'"),
        ({"architecture": "standard"}, "objective must be one of"),
        ({"objective": "gba", "gba_lowest": 0.5}, "Group Bias Adaptation"),
        ({"objective": "l1", "lr": float("inf")}, r"lr must be in \(0, 1\], got inf"),
        ({"objective": "l1", "lr": -1.0}, r"lr must be in \(0, 1\], got -1.0"),
        ({"objective": "l1", "l1_coef": float("inf")}, r"l1_coef must be in \(0, 1e\+06\], got inf"),
        ({"objective": "l1", "l1_coef": float("nan")}, "l1_coef must be in"),
        ({"objective": "l1", "checkpoint_every": 0}, r"checkpoint_every must be in \[1, inf\)"),
        ({"objective": "l1", "epochs": -3}, "epochs is set by the build"),
        ({"objective": "l1", "evil": 1}, "evil is not a training setting"),
        ({"objective": "l1", "gba_window": 10}, "gba_window is not a training setting"),
        ({"objective": "l1", "l1_evil": 1}, "l1_evil is not a setting of l1; it has l1_coef, l1_warmup, l1_init_l0"),
        ({"objective": "gba", "gba_lowest": 1e-300}, r"gba_lowest must be in \[1e-06, 1\]"),
        ({"objective": "gba", "gba_groups": 10**12}, r"gba_groups must be at most d_sae"),
        ({"objective": "l1", "aux_k": -5}, "aux_k must be in"),
        ({"objective": "l1", "decay_start": -1}, "decay_start must be in"),
        ({"objective": "l1", "l1_init_l0": 0}, r"l1_init_l0 must be in \[1, inf\)"),
        ({"objective": "l1", "l1_init_l0": 10**9}, "l1_init_l0 must be at most d_sae"),
        ({"objective": "l1", "init_max_cosine": -1}, "init_max_cosine must be in"),
    ],
)
def test_a_training_table_that_cannot_train_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, training: dict[str, object], message: str
) -> None:
    import dataclasses

    from backend.core.errors import CatalogError

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    release = dataclasses.replace(get_release("tiny"), training=training)
    with pytest.raises(CatalogError, match=message):
        build_release(release, "tiny", report=lambda *_: None)
    assert not release.paths.corpus.exists() and read_progress(release) is None


def test_a_release_whose_training_table_says_gba_builds_gba_saes(
    tiny_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import shutil

    from backend.explore.overview import sae_summary
    from backend.models.loading import load_sae

    # A copy of the session's build: only the SAE whose recipe changed is retrained (and re-indexed).
    shutil.copytree(get_release(tiny_release).paths.root, tmp_path / "releases" / tiny_release)
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    training = {"objective": "gba", "gba_window": 2048, "gba_highest": 0.2, "gba_lowest": 0.02}
    release = dataclasses.replace(get_release(tiny_release), training=training)
    build_release(release, "tiny", report=lambda *_: None, until=USABLE)
    sae = load_sae(release, "64").sae
    assert sae.cfg.extra["training"]["objective"] == "gba"
    assert sae_summary(sae, release, "64")["config"]["value"]["architecture"] == "standard (trained as gba)"


def test_an_sae_whose_weights_are_truncated_is_not_ready(tiny_copy: str) -> None:
    """The router, the build panel and the pages ask the artifacts (`finished`): a truncated weights file is not a
    finished SAE, and the build trains it again."""
    release = get_release(tiny_copy)
    assert ready_saes(release) == ["64", "128"]
    weights = Path(release.sae("64").location.path) / "sae_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert ready_saes(release) == ["128"]
