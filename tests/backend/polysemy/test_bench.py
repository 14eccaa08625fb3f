"""The benchmark on the tiny release with the real embedded model: cached per SAE, summarised per SAE."""

import pandas as pd

from backend.core.files import write_keyed_parquet
from backend.models.language import load_language_model
from backend.polysemy.bench import READING, ResidualCosines, cached_predictions, predictions, probe_set_id
from backend.polysemy.probe import RESIDUAL
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
    assert set(cached_predictions(release, PAIRS, "template", ["64", "128"])) == {"64", "128", RESIDUAL}
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


def test_the_residual_stream_is_read_beside_the_saes_and_keyed_on_the_hook(tiny_release: str) -> None:
    release = get_release(tiny_release)
    found = predictions(release, PAIRS, "context", ["64"], lambda: load_language_model(release.model))
    residual, code = found[RESIDUAL], found["64"]
    assert residual["argmax1"].isna().all() and residual["argmax2"].isna().all()
    probed = code["skipped"] == ""
    assert probed.any() and not probed.all()
    for frame in (residual, code):
        assert frame.loc[probed, "cosine"].between(-1.0001, 1.0001).all()
        assert frame.loc[~probed, "cosine"].isna().all()
    artifact = ResidualCosines(release, probe_set_id(PAIRS), "context")
    assert artifact.stored_key() == f"{release.model}|{release.hook}|{release.convention}|{READING}"


def test_a_reading_stored_before_the_cosine_was_kept_is_redone(tiny_release: str) -> None:
    release = get_release(tiny_release)
    lm = lambda: load_language_model(release.model)  # noqa: E731
    first = predictions(release, PAIRS, "template", ["64"], lm)["64"]
    artifact = ResidualCosines(release, probe_set_id(PAIRS), "template")
    write_keyed_parquet(artifact.path, first.drop(columns="cosine"), artifact.key().removesuffix(READING))
    assert RESIDUAL not in cached_predictions(release, PAIRS, "template", ["64"])
    assert "cosine" in predictions(release, PAIRS, "template", ["64"], lm)[RESIDUAL]
