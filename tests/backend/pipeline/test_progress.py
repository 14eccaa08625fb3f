"""What a build's progress file says of its stages' times, and how the writer records stages run beside others."""

import json
from pathlib import Path

import pytest

from backend.pipeline.progress import BuildProgress, ProgressWriter, read_progress
from backend.sources.catalog import get_release


def test_a_stage_is_reached_when_it_started() -> None:
    progress = BuildProgress(
        stages=["corpus", "train SAE-64", "usable", "map"],
        finished=["corpus", "train SAE-64"],
        stage="usable",
        seconds={"corpus": 2.5, "train SAE-64": 4.0},
        started={"corpus": 0.0, "train SAE-64": 2.5, "usable": 6.5},
    )
    assert progress.reached("corpus") == 0.0
    assert progress.reached("usable") == 6.5
    assert progress.reached("map") is None  # not begun
    assert progress.wall() == 6.5


def test_the_wall_time_counts_stages_run_beside_others_once() -> None:
    progress = BuildProgress(
        stages=["train SAE-64", "map SAE-64", "train SAE-128"],
        finished=["train SAE-64", "map SAE-64", "train SAE-128"],
        seconds={"train SAE-64": 4.0, "map SAE-64": 3.0, "train SAE-128": 5.0},
        started={"train SAE-64": 0.0, "map SAE-64": 4.0, "train SAE-128": 4.0},
    )
    assert progress.wall() == 9.0


def test_a_file_written_before_stages_starts_were_recorded_reads_as_one_lane() -> None:
    progress = BuildProgress(stages=["a", "b"], finished=["a", "b"], seconds={"a": 1.0, "b": 2.0})
    assert progress.wall() == 3.0


@pytest.fixture
def writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProgressWriter:
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    (tmp_path / "releases" / "smollm2-wordnet").mkdir(parents=True)
    return ProgressWriter(get_release("smollm2-wordnet"), ["train", "map", "train 2"], "default")


def test_a_stage_beside_the_others_is_listed_while_it_runs_and_finished_after(writer: ProgressWriter) -> None:
    writer.stage("train")
    with writer.beside("map"):
        writer.stage("train 2")
        shown = read_progress(get_release("smollm2-wordnet"))
        assert shown is not None and shown.beside == ["map"] and shown.stage == "train 2"
    writer.finish("complete")
    done = read_progress(get_release("smollm2-wordnet"))
    assert done is not None and done.beside == []
    assert set(done.finished) == {"train", "map", "train 2"}
    assert done.started["train"] <= done.started["map"] <= done.started["train 2"]


def test_a_stage_beside_that_fails_is_not_finished(writer: ProgressWriter) -> None:
    writer.stage("train")
    with pytest.raises(RuntimeError), writer.beside("map"):
        raise RuntimeError("umap broke")
    writer.finish("failed", "RuntimeError: umap broke", stage="map")
    shown = json.loads(writer.path.read_text())
    assert shown["beside"] == [] and "map" not in shown["finished"] and shown["stage"] == "map"


def test_the_inputs_seconds_are_written_as_they_load(writer: ProgressWriter) -> None:
    writer.stage("train")
    writer.loaded("language model", 6.94)
    shown = read_progress(get_release("smollm2-wordnet"))
    assert shown is not None and shown.inputs == {"language model": 6.94}
    assert shown.inputs_said() == "language model 7 s"
