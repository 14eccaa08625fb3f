"""The sentence on where a family differs from the paper: said when it differs, silent when it does not."""

import pandas as pd

from backend.explore.paper import PAPER, FamilySetting, curve_rise, family_differences, stitching_differences


def curves(rise: float) -> pd.DataFrame:
    nmse = [0.30, 0.30 * (1 + rise), 0.25]
    return pd.DataFrame({"pair": ["a→b"] * 3, "kind": ["curve"] * 3, "nmse": nmse})


def test_curve_rise_is_relative_to_the_start() -> None:
    assert abs(curve_rise(curves(0.10))["a→b"] - 0.10) < 1e-9
    assert curve_rise(curves(-0.05))["a→b"] == 0.0


def test_stitching_sentence_names_what_differs_with_figures() -> None:
    assert stitching_differences({"a→b": PAPER.novel_fraction}, curves(0.0)) == ""
    said = stitching_differences({"a→b": 0.88}, curves(0.40))
    assert "88% (a→b)" in said and "+40%" in said and "35%" in said


def test_family_sentence() -> None:
    same = family_differences(FamilySetting(768, [36.0, 43.0], PAPER.multiples, PAPER.sizes, None, 0.55))
    assert same == ""
    said = family_differences(FamilySetting(576, [16.0, 60.0], (2, 16), 4, 1_047_962, 0.30, 8))
    assert "4 sizes from 2x to 16x" in said and "1.0M training tokens" in said and "30%" in said
    assert "k=8 meta-latents per decoder row (paper k=4)" in said
