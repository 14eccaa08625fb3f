"""Property tests: any catalog release table and any registrations file gives a checked release (or catalog)
or a CatalogError; ids never escape the data directory (examples per target: EXAMPLES)."""

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.core.config import data_dir
from backend.core.errors import CatalogError
from backend.sources.catalog import load_catalog, parse_release
from backend.sources.registrations import REGISTRATIONS

EXAMPLES = 300
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12)
values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8
)
ids = st.sampled_from(["a", "../x", "..", ".hidden", "ok-1", "a/b", "", "x" * 70]) | st.text(max_size=8) | scalars
entries = st.fixed_dictionaries(
    {"id": ids},
    optional={"path": st.sampled_from(["sae", "../../etc", "/abs", "a/../../b"]) | values, "d_sae": values,
              "k": values, "layout": values, "source": values, "threshold": values, "over": ids},
)  # fmt: skip
releases = st.fixed_dictionaries(
    {"model": values | st.just("embedded:x"), "hook": values | st.just("blocks.1.hook_resid_pre"),
     "saes": st.lists(entries, max_size=3) | values},
    optional={"context_size": values, "convention": values, "corpus": values, "source": values,
              "meta_saes": st.lists(entries, max_size=2) | values, "default": values, "title": values,
              "outlier_norm_multiple": values, "training": values},
)  # fmt: skip


@SETTINGS
@given(release_id=ids, raw=releases)
def test_any_release_table_parses_or_is_refused(release_id: Any, raw: dict[str, Any]) -> None:
    try:
        release = parse_release(release_id, raw)
    except CatalogError:
        return
    root = release.paths.root.resolve()
    assert root.is_relative_to((data_dir() / "releases").resolve()) and root.name == release.id
    for entry in (*release.saes, *release.meta_saes):
        assert "/" not in entry.id and ".." not in entry.id
        if release.built:
            assert Path(entry.location.path).resolve().is_relative_to(root)


@pytest.fixture
def registrations() -> Any:
    path = data_dir() / REGISTRATIONS
    saved = path.read_bytes() if path.exists() else None
    yield path
    if saved is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(saved)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | values.map(lambda v: json.dumps(v).encode()))
def test_any_registrations_file_loads_or_is_refused(registrations: Path, content: bytes) -> None:
    registrations.write_bytes(content)
    with contextlib.suppress(CatalogError):
        load_catalog()


def test_a_registration_outside_the_data_directory_is_refused(registrations: Path) -> None:
    outside = os.path.abspath("/etc")
    registrations.write_text(json.dumps({"tiny": [{"id": "m", "over": "128", "path": outside, "d_sae": 4}]}))
    with pytest.raises(CatalogError, match="inside"):
        load_catalog()
