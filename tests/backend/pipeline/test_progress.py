"""What a build's progress file says of its stages' times."""

from backend.pipeline.progress import BuildProgress


def test_a_stage_is_reached_after_the_seconds_of_the_stages_before_it() -> None:
    progress = BuildProgress(
        stages=["corpus", "train SAE-64", "usable", "map"],
        finished=["corpus", "train SAE-64"],
        stage="usable",
        seconds={"corpus": 2.5, "train SAE-64": 4.0},
    )
    assert progress.reached("corpus") == 0.0
    assert progress.reached("usable") == 6.5
    assert progress.reached("map") is None  # not begun
