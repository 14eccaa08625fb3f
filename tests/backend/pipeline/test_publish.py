"""Publish, then serve without building: the tiny release written as a Hub repo, laid into a Hub cache, and
read back offline from an empty data directory: the same cards, and every cached analysis recognised as current."""

import json
import os
from pathlib import Path

import pytest

from backend.core.errors import AtlasError, CatalogError
from backend.explore.latent_map import LatentMap
from backend.index.cards import CardReader
from backend.index.store import IndexReader
from backend.pipeline.artifacts import release_lenses
from backend.pipeline.build import build_release
from backend.pipeline.publish import CATALOG, publish_folder, upload
from backend.sources.catalog import get_release
from backend.stitching.family import Curves, pair_classification
from tests.backend.sources.test_hub import populate_cache

REPO = "someone/tiny-atlas"


def cards(release_id: str) -> list[object]:
    reader = CardReader(IndexReader.open(get_release(release_id).paths.index("128")))
    return [reader.card(i) for i in range(0, 128, 16)]


def test_a_published_release_is_served_from_the_hub_cache_without_computing(
    tiny_release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = cards(tiny_release)
    out = publish_folder(get_release(tiny_release), tmp_path / "out", REPO)
    assert not (out / "work").exists() and (out / "index" / "128" / "meta.json").exists()
    with pytest.raises(AtlasError, match="offline"):
        upload(out, REPO)
    populate_cache(REPO, {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()})
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ATLAS_CATALOG", os.environ["ATLAS_CATALOG"] + os.pathsep + str(out / CATALOG))
    release = get_release(tiny_release)
    assert release.published is not None and not release.built
    assert json.loads((out / CATALOG).read_text())["releases"][tiny_release]["published"] == {"repo": REPO}
    assert cards(tiny_release) == expected
    assert pair_classification(release, "64", "128", 0.7) is not None
    assert Curves(release).read() is not None
    assert LatentMap(release, "128").read() is not None
    lenses = release_lenses(release)
    assert len(lenses) == 6 and all(lens.is_current() for lens in lenses), [lens.name for lens in lenses]
    assert not (tmp_path / "empty" / "releases").exists(), "nothing was computed or written locally"
    nested = get_release("tiny-matryoshka")  # trained from tiny's data, which this machine no longer builds
    assert nested.siblings == () and release.siblings == ()
    with pytest.raises(CatalogError, match="which is not built here"):
        build_release(nested, "tiny", report=lambda *_: None)
