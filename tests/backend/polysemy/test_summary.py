"""Readings beyond the argmax: a threshold on a pair's cosine, fit by cross-validation, and the sentence about it."""

import numpy as np
import pandas as pd

from backend.polysemy.probe import RESIDUAL
from backend.polysemy.summary import beyond_argmax, threshold_readings


def _readings(same: np.ndarray, different: np.ndarray) -> pd.DataFrame:
    probe = pd.DataFrame(
        {"word": "w9", "context1": "a", "context2": "b", "same": [True] * len(same) + [False] * len(different)}
    )
    frame = pd.DataFrame({"cosine": np.concatenate([same, different]), "skipped": ""})
    return threshold_readings(probe, {"4": frame, RESIDUAL: frame}, {"4": 4}).set_index("reader")


def test_a_cosine_that_parts_the_senses_scores_high_and_one_that_does_not_scores_chance() -> None:
    rng = np.random.default_rng(0)
    parted = _readings(rng.uniform(0.8, 0.9, 40), rng.uniform(0.2, 0.3, 40))
    assert (parted["accuracy"] == 1.0).all() and list(parted.index) == ["SAE 4, whole code", "residual stream (no SAE)"]
    # The threshold is fit without the pair it judges, so noise does not pass for a reading.
    noise = _readings(rng.uniform(0, 1, 200), rng.uniform(0, 1, 200))
    assert abs(noise["accuracy"].iloc[0] - 0.5) < 0.08
    few = _readings(np.array([0.9, 0.8]), np.array([0.1, 0.2]))
    assert few["accuracy"].isna().all()


def test_the_readings_beyond_the_argmax_are_said_plainly() -> None:
    summary = pd.DataFrame({"accuracy": [0.55, 0.58]})
    readings = pd.DataFrame({"latents": [4, 8, None], "accuracy": [0.6, 0.64, 0.57]})
    assert beyond_argmax(summary, readings) == (
        "The strongest latent alone scores 0.55–0.58; the same SAEs' whole codes, compared by cosine with a "
        "threshold fit by 5-fold cross-validation, score 0.60–0.64, and the residual stream itself 0.57."
    )
