"""Lens files are checked like indexes: an altered, truncated or crafted one (its checksum rewritten to match) is never
shown as a fact, says why on the card's list of missing lenses, and is computed again by the build."""

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file, save_file

from backend.core.files import file_digest, write_bytes_atomic, write_keyed_parquet
from backend.lenses.kinds.facets import Facets
from backend.lenses.kinds.seeds import SeedMatch
from backend.lenses.lens import CHECKSUM
from backend.lenses.profile import family_lenses, latent_profiles, missing_lenses
from backend.pipeline.artifacts import release_lenses
from backend.pipeline.build import build_release
from backend.sources.catalog import get_release
from backend.sources.release import Release


@pytest.fixture
def copy(tiny_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Release:
    """A copy of the session's build that the test may damage."""
    shutil.copytree(get_release(tiny_release).paths.root, tmp_path / "releases" / tiny_release)
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    return get_release(tiny_release)


def reseal(path: Path) -> None:
    """Write the crafted file's checksum as the build would: only the value checks can tell it now."""
    write_bytes_atomic(path.with_name(path.name + CHECKSUM), file_digest(path).encode())


def craft_facets(release: Release, change: dict[str, object]) -> None:
    path = release.paths.lens("facets-64.parquet")
    key = (pq.read_schema(path).metadata or {})[b"key"].decode()
    write_keyed_parquet(path, pd.read_parquet(path).assign(**change), key)
    reseal(path)


def craft_seeds(release: Release, edit: "dict[str, torch.Tensor]") -> None:
    path = release.paths.lens("seeds-64.safetensors")
    tensors, key = load_file(str(path)), SeedMatch(release, "64").stored_key()
    save_file({**tensors, **edit}, str(path), metadata={"key": str(key)})
    reseal(path)


@pytest.mark.parametrize(
    ("craft", "said"),
    [
        (lambda r: craft_facets(r, {"share": 5.0}), "holds shares outside [0, 1]"),
        (lambda r: craft_facets(r, {"latent": 10**9}), "names latents that SAE 64 does not have"),
        (lambda r: craft_seeds(r, {"partner": torch.full((64,), 10**9)}), "names partners that are not latents"),
        (lambda r: craft_seeds(r, {"partner": torch.arange(5)}), "does not hold one partner for each"),
        (lambda r: craft_seeds(r, {"encoder_cos": torch.full((64,), 5.0)}), "holds cosines outside [-1, 1]"),
    ],
)
def test_a_crafted_lens_file_is_not_shown_and_says_why(copy: Release, craft, said: str) -> None:  # type: ignore[no-untyped-def]
    craft(copy)
    lenses = release_lenses(copy)
    missing = " ".join(missing_lenses(copy, "64", lenses).values())
    assert said in missing and "python -m backend lenses --release tiny" in missing
    profile = latent_profiles(copy, "64", lenses)
    family = family_lenses(copy, lenses).set_index("sae")
    if "facets" in missing.lower():
        assert profile["facets"].isna().all() and pd.isna(family.at["64", "facets_per_latent"])
    else:
        assert profile["seed_shared"].isna().all() and pd.isna(family.at["64", "shared_across_seeds"])


def test_the_build_computes_a_crafted_lens_again(copy: Release) -> None:
    craft_facets(copy, {"share": 5.0})

    def facets() -> Facets:
        return next(a for a in release_lenses(copy) if isinstance(a, Facets) and a.sae_id == "64")

    assert not facets().is_current()
    build_release(copy, "tiny", report=lambda *_: None)
    assert facets().is_current() and facets().damage() is None
    assert "facets" not in missing_lenses(copy, "64", release_lenses(copy))


def test_a_truncated_lens_file_is_missing_and_rebuilt(copy: Release) -> None:
    path = copy.paths.lens("seeds-64.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    assert "does not match the checksum its build wrote" in missing_lenses(copy, "64", release_lenses(copy))["seeds"]
    build_release(copy, "tiny", report=lambda *_: None)
    assert "seeds" not in missing_lenses(copy, "64", release_lenses(copy))


@pytest.mark.parametrize("damage", ["flip", "unsealed"])
def test_a_lens_file_altered_in_place_or_without_its_checksum_is_not_read(copy: Release, damage: str) -> None:
    path = copy.paths.lens("facets-64.parquet")
    if damage == "flip":  # one byte inside the data, where the values stay readable
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        path.write_bytes(bytes(raw))
    else:
        path.with_name(path.name + CHECKSUM).unlink()
    said = missing_lenses(copy, "64", release_lenses(copy))["facets"]
    assert ("does not match the checksum" if damage == "flip" else "has no checksum beside it") in said
    assert latent_profiles(copy, "64", release_lenses(copy))["facets"].isna().all()
    if damage == "flip":  # the build computes it again either way (as the truncated seeds above)
        build_release(copy, "tiny", report=lambda *_: None)
        assert "facets" not in missing_lenses(copy, "64", release_lenses(copy))
