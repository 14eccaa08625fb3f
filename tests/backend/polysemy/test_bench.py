"""The benchmark on the tiny release with the real embedded model: cached per SAE, summarised per SAE."""

import pandas as pd

from backend.models.language import load_language_model
from backend.polysemy.bench import cached_predictions, predictions
from backend.polysemy.summary import pair_table, summarise
from backend.sources.catalog import get_release

PAIRS = pd.DataFrame(
    {
        "word": ["bank", "bank", "plant", "photosynthesis"],
        "context1": ["the river bank", "a bank loan", "a power plant", "photosynthesis in leaves"],
        "context2": ["the bank loan", "bank interest", "plant a tree", "photosynthesis needs light"],
        "same": [False, True, False, True],
    }
)


def test_predictions_are_cached_per_sae_and_summarised(tiny_release: str) -> None:
    release = get_release(tiny_release)
    calls: list[int] = []

    def lm():  # type: ignore[no-untyped-def]
        calls.append(1)
        return load_language_model(release.model)

    first = predictions(release, PAIRS, "template", ["64"], lm)
    assert calls == [1]
    both = predictions(release, PAIRS, "template", ["64", "128"], lm)
    assert calls == [1, 1]  # only SAE-128 was missing
    assert both["64"].equals(first["64"])
    assert set(cached_predictions(release, PAIRS, "template", ["64", "128"])) == {"64", "128"}
    predictions(release, PAIRS, "template", ["64", "128"], lm)
    assert calls == [1, 1]
    summary = summarise(PAIRS, both, {"64": 64, "128": 128})
    assert summary["sae"].tolist() == ["64", "128"]
    row = summary.iloc[0]
    assert row["pairs"] + row["skipped"] + row["unbalanced"] == 4
    assert row["tp"] + row["fp"] + row["tn"] + row["fn"] == row["pairs"]
    skipped = both["64"]["skipped"] != ""
    assert both["64"].loc[skipped, "argmax1"].isna().all()
    table = pair_table(PAIRS, both["128"])
    assert table["predicted same"].isna().tolist() == skipped.tolist()
