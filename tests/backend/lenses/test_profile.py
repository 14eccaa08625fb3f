"""The lenses on the session's tiny build: computed by the build, joined per latent and per size, exported."""

import json
import math
import subprocess
import sys
from typing import TYPE_CHECKING

import pandas as pd

from backend.explore.exports import canonicality_from_json
from backend.lenses.profile import family_lenses, filter_column, latent_filters, latent_profiles, missing_lenses
from backend.pipeline.artifacts import release_lenses
from backend.sources.catalog import get_release

if TYPE_CHECKING:
    from pathlib import Path


def test_the_build_makes_every_lens_the_release_can_have(tiny_release: str) -> None:
    release = get_release(tiny_release)
    lenses = release_lenses(release)
    assert sorted(a.name for a in lenses) == sorted([
        "seed alignment SAE-64", "co-firing SAE-64→128", "absorption SAE-64", "absorption SAE-128",
        "facets SAE-64", "facets SAE-128", "families SAE-64 of tiny · SAE-64 of tiny-matryoshka",
        "families SAE-128 of tiny · SAE-128 of tiny-matryoshka",
    ])  # fmt: skip
    assert all(a.is_current() for a in lenses)


def test_every_lens_joins_on_each_latent_and_a_missing_one_says_why(tiny_release: str) -> None:
    release = get_release(tiny_release)
    lenses = release_lenses(release)
    small, large = latent_profiles(release, "64", lenses), latent_profiles(release, "128", lenses)
    assert len(small) == 64 and len(large) == 128
    assert small["seed_shared"].notna().all() and small["seed_partner"].between(0, 63).all()
    assert small["novel"].isna().all() and large["novel"].notna().all()
    assert large["meta_cosine"].notna().all() and small["meta_cosine"].isna().all()
    assert small["facets"].notna().any() and large["facets"].notna().any()
    assert set(small["split"]) <= {"", "partition", "hole", "overlap"}
    assert "seeds" in missing_lenses(release, "128", lenses) and "seeds" not in missing_lenses(release, "64", lenses)
    family = family_lenses(release, lenses).set_index("sae")
    assert math.isnan(family.at["64", "novel_fraction"]) and 0 <= family.at["128", "novel_fraction"] <= 1
    assert 0 <= family.at["64", "shared_across_seeds"] <= 1 and math.isnan(family.at["128", "shared_across_seeds"])


def test_the_card_export_carries_the_profile_and_reads_it_back(tiny_release: str, tmp_path: "Path") -> None:
    out = tmp_path / "card.json"
    command = [sys.executable, "-m", "backend", "export", "card", "--release", tiny_release, "--sae", "64",
               "--latent", "5", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    profile = canonicality_from_json(out.read_text())
    expected = latent_profiles(get_release(tiny_release), "64", release_lenses(get_release(tiny_release))).iloc[5]
    assert profile["latent"] == 5
    assert profile["seed_partner"] == int(expected["seed_partner"])
    assert profile["seed_shared"] == bool(expected["seed_shared"])
    assert json.loads(out.read_text())["card"]["latent"] == 5
    table = tmp_path / "lenses.parquet"
    command = [sys.executable, "-m", "backend", "export", "canonicality", "--release", tiny_release, "--sae", "64",
               "--format", "parquet", "--out", str(table)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    assert len(pd.read_parquet(table)) == 64


def test_the_findings_state_each_trend_with_its_figures() -> None:
    from backend.lenses.profile import family_findings

    family = pd.DataFrame({
        "sae": ["a", "b"], "shared_across_seeds": [0.4, 0.2], "absorption_fraction": [0.5, 0.8],
        "baseline_absorption_fraction": [0.05, 0.04], "main_recall": [0.7, 0.5], "partition_share": [0.1, float("nan")],
        "facets_per_latent": [2.0, 2.5],
    })  # fmt: skip
    said = " ".join(family_findings(family))
    assert "Shared across seeds falls from 40% at SAE-a to 20% at SAE-b" in said
    assert "rises from 50% at SAE-a to 80% at SAE-b (20x its random-direction baseline" in said
    assert "10% to 10% of splits" in said and "from 2.00 to 2.50" in said
    assert family_findings(family.iloc[:1].assign(partition_share=float("nan"))) == []


def test_yes_no_and_verdict_columns_filter_both_ways_and_unmeasured_latents_pass_neither() -> None:
    table = pd.DataFrame({
        "latent": [0, 1, 2, 3],
        "novel": [True, False, True, True],
        "kept": pd.Series([True, None, False, True], dtype=object),
        "split": ["", "hole", None, "partition"],
        "top_facet": ["a", "b", "c", "d"],
        "partner": pd.Series([1, 0, 1, 1], dtype=object),
        "dead": [False] * 4,
    })  # fmt: skip
    masks = {name: mask.tolist() for name, mask in latent_filters(table).items()}
    assert masks == {
        "novel": [True, False, True, True],
        "not novel": [False, True, False, False],
        "kept": [True, False, False, True],
        "not kept": [False, False, True, False],
        "split": [False, True, False, True],
        "no split": [True, False, True, False],
    }


def test_a_filter_that_keeps_every_row_or_none_is_not_offered() -> None:
    table = pd.DataFrame({"latent": [0, 1], "novel": [True, True], "split": ["", ""], "dead": [False, False]})
    assert latent_filters(table) == {}


def test_a_filter_names_the_column_it_reads() -> None:
    assert [filter_column(n) for n in ("novel", "not seed_shared", "no split")] == ["novel", "seed_shared", "split"]
