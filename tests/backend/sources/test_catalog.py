from pathlib import Path

import pytest

from backend.core.errors import CatalogError
from backend.sources.catalog import SHIPPED_CATALOG, load_catalog, parse_release


def test_shipped_catalog_has_the_paper_family_and_the_embedded_default() -> None:
    catalog = load_catalog()
    gpt2 = catalog["gpt2-small-res-fs-l8"]
    assert gpt2.sae_ids == ["768", "1536", "3072", "6144", "12288", "24576", "49152", "98304"]
    assert gpt2.convention == "transformer_lens" and gpt2.hook == "blocks.8.hook_resid_pre"
    assert gpt2.meta("meta-2304").over == "49152" and gpt2.meta("meta-2304").threshold == 0.153
    assert gpt2.sae("49152").neuronpedia_id == "gpt2-small/8-res_fs49152-jb"
    assert catalog["smollm2-wordnet"].built
    assert SHIPPED_CATALOG.exists()


def test_meta_sae_over_an_unknown_sae_is_refused() -> None:
    with pytest.raises(CatalogError, match="no SAE"):
        parse_release("r", {"model": "m", "hook": "h", "saes": [{"id": "a"}], "meta_saes": [{"id": "m", "over": "b"}]})


def test_a_second_seed_is_found_by_id_but_is_not_a_family_member() -> None:
    release = parse_release(
        "r", {"model": "m", "hook": "h", "saes": [{"id": "a"}, {"id": "b"}], "second_seeds": [{"id": "a2", "of": "a"}]}
    )
    assert release.sae_ids == ["a", "b"] and release.neighbour_pairs == [("a", "b")]
    assert release.sae("a2").of == "a" and release.second_seed("a") == release.sae("a2")  # type: ignore[attr-defined]
    assert release.second_seed("b") is None
    assert release.family_sae("b").id == "b"
    with pytest.raises(CatalogError, match="a2 is the second seed of SAE a"):
        release.family_sae("a2")


def test_a_second_seed_of_another_size_is_refused() -> None:
    saes = [{"id": "a", "d_sae": 64}]
    with pytest.raises(CatalogError, match="second seed 'a2' has d_sae 128 but SAE a has 64"):
        parse_release(
            "r", {"model": "m", "hook": "h", "saes": saes, "second_seeds": [{"id": "a2", "of": "a", "d_sae": 128}]}
        )


@pytest.mark.parametrize(
    "seeds",
    [
        [{"id": "a2", "of": "c"}],
        [{"id": "a2", "of": "a"}, {"id": "a3", "of": "a"}],
        [{"id": "a", "of": "a"}],
        {"id": "x"},
    ],
)
def test_a_second_seed_must_name_one_family_sae_once(seeds: object) -> None:
    with pytest.raises(CatalogError, match="second"):
        parse_release("r", {"model": "m", "hook": "h", "saes": [{"id": "a"}], "second_seeds": seeds})


def test_release_without_saes_is_refused() -> None:
    with pytest.raises(CatalogError, match="no SAEs"):
        parse_release("r", {"model": "m", "hook": "h"})


@pytest.mark.parametrize(
    ("change", "message"),
    [({"context_size": -5}, "context_size"), ({"convention": "tl"}, "convention"),
     ({"saes": [{"id": "a", "d_sae": "big"}]}, "d_sae"), ({"saes": [{"id": "../../x"}]}, "id"),
     ({"saes": [{"id": "a", "path": "../../../etc"}]}, "outside"), ({"saes": [{"id": "a"}, {"id": "a"}]}, "distinct"),
     ({"source": {"kind": "hub", "repo": "o/r"}, "saes": [{"id": "a", "path": "l8/../../x"}]}, "SAE 'a' path must not"),
     ({"source": {"kind": "hub", "repo": "../x"}}, "source repo must be a Hub repo id"),
     ({"source": {"kind": "local", "root": "/srv/saes/../../home"}}, "source root must not"),
     ({"source": {"kind": "local", "root": "/srv"}, "saes": [{"id": "a", "path": "../.ssh"}]}, "path must not"),
     ({"published": {"repo": "../../x"}}, "published repo must be a Hub repo id"),
     ({"corpus": {"kind": "hub", "repo": "a/../b"}}, "corpus repo must be a Hub repo id"),
     ({"on_request": "false"}, "on_request must be true or false"), ({"control": "../x"}, "control")],
)  # fmt: skip
def test_bad_catalog_values_name_the_field(change: dict, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_release("r", {"model": "m", "hook": "h", "saes": [{"id": "a"}], **change})


def test_a_release_id_that_is_a_path_is_refused() -> None:
    with pytest.raises(CatalogError, match="id"):
        parse_release("../../tmp", {"model": "m", "hook": "h", "saes": [{"id": "a"}]})


def test_concurrent_registrations_are_all_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from backend.sources.catalog import register_meta_sae
    from backend.sources.registrations import registered_meta_saes

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    entries = [{"id": f"meta-{i}", "over": "128", "path": str(tmp_path / f"m{i}")} for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda e: register_meta_sae("tiny", e), entries))
    assert sorted(m["id"] for m in registered_meta_saes()["tiny"]) == sorted(e["id"] for e in entries)


def test_a_family_built_on_request_is_left_out_until_its_build_is_asked_for(data_dir: Path) -> None:
    from backend.sources.catalog import families_of, get_release, on_request, release_table, trained_from

    standard, nested, control = (get_release(rid) for rid in ("tiny", "tiny-matryoshka", "tiny-batchtopk"))
    assert control.on_request and nested.control == "tiny-batchtopk" and not standard.on_request
    assert standard.siblings == ("tiny-matryoshka", "tiny-batchtopk")
    assert [r.id for r in families_of(standard)] == ["tiny", "tiny-matryoshka"]
    assert [r.id for r in families_of(control)] == ["tiny", "tiny-matryoshka", "tiny-batchtopk"]  # as it plans
    assert [r.id for r in trained_from(standard)] == ["tiny-matryoshka"]
    assert [r.id for r in on_request(nested)] == ["tiny-batchtopk"]
    control.paths.progress.parent.mkdir(parents=True, exist_ok=True)
    control.paths.progress.write_text("{}")  # its build has started
    try:
        assert [r.id for r in families_of(nested)] == ["tiny", "tiny-matryoshka", "tiny-batchtopk"]
        assert [r.id for r in trained_from(standard)] == ["tiny-matryoshka", "tiny-batchtopk"]
        assert on_request(standard) == []
    finally:
        control.paths.progress.unlink()
    assert not {"data_of", "on_request", "control"} & release_table("tiny-matryoshka").keys()


def test_a_control_must_name_another_family_of_the_same_data() -> None:
    from backend.sources.catalog import _check_control

    base = {"model": "m", "hook": "h", "saes": [{"id": "x", "d_sae": 8}]}
    tables = {"a": base, "c": {**base, "data_of": "a"}, "d": base}
    for control in ("c", "a"):  # a sibling, or the family that owns the data
        releases = {rid: parse_release(rid, t) for rid, t in {**tables, "b": {**base, "data_of": "a"}}.items()}
        releases["b"] = parse_release("b", {**base, "data_of": "a", "control": control})
        _check_control(releases["b"], releases)
    for control in ("typo", "d", "b"):
        releases = {rid: parse_release(rid, t) for rid, t in tables.items()}
        releases["b"] = parse_release("b", {**base, "data_of": "a", "control": control})
        with pytest.raises(CatalogError, match=f"control '{control}' must name another release .* same data"):
            _check_control(releases["b"], releases)
