"""`add`: a SAELens folder, a Hub repo (from a populated cache, offline) or a family of two sizes, with a tiny
random model and a tiny corpus, to a registered release with cards; bad inputs leave nothing registered."""

import json
from pathlib import Path

import pytest

from backend.core.errors import AtlasError
from backend.index.cards import CardReader
from backend.index.store import IndexReader
from backend.pipeline.add import AddRequest, add_release, source_table
from backend.sources.catalog import get_release, load_catalog
from backend.sources.registrations import ADDED
from backend.sources.release import CorpusSpec
from tests.backend.sources.test_hub import populate_cache
from tests.backend.tiny_models import HOOK, saelens_folder


def request(tiny_world: dict[str, Path], *sources: Path | str, **changes: object) -> AddRequest:
    corpus = CorpusSpec("local", path=str(tiny_world["corpus"]))
    return AddRequest(
        **{"release_id": "mine", "sources": tuple(map(str, sources)), "corpus": corpus, "contexts": 24, **changes}
    )  # type: ignore[arg-type]


def test_add_a_saelens_folder_reads_hook_model_and_context_from_its_config(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    release = add_release(request(tiny_world, folder))
    assert get_release("mine") == release
    assert (release.hook, release.model, release.context_size, release.sae_ids) == (
        HOOK,
        f"local:{tiny_world['model']}",
        16,
        ["32"],
    )
    reader = CardReader(IndexReader.open(release.paths.index("32")))
    assert reader.index.meta["n_contexts"] == 24 and reader.card(0).latent == 0


def test_add_from_a_populated_hub_cache_offline(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    populate_cache("someone/my-saes", {f"layer2/{p.name}": p for p in folder.iterdir()})
    assert source_table("someone/my-saes/layer2") == {
        "source": {"kind": "hub", "repo": "someone/my-saes"},
        "path": "layer2",
    }
    release = add_release(request(tiny_world, "someone/my-saes/layer2"))
    assert IndexReader.open(release.paths.index("32")).meta["d_sae"] == 32


def test_add_a_family_sorts_by_size_and_matches_neighbours(tiny_world: dict[str, Path]) -> None:
    large = saelens_folder(tiny_world["root"], "large", tiny_world["model"], 48)
    small = saelens_folder(tiny_world["root"], "small", tiny_world["model"], 24)
    release = add_release(request(tiny_world, large, small, d_meta=4))
    assert release.sae_ids == ["24", "48"]
    assert release.paths.matching("24", "48").exists()
    assert [m.over for m in get_release("mine").meta_saes] == ["48"]


@pytest.mark.parametrize(
    ("problem", "message"),
    [("width", "width"), ("hook", "blocks"), ("column", "column"), ("empty", "no text"), ("taken", "already")],
)
def test_bad_inputs_are_refused_and_nothing_is_registered(
    tiny_world: dict[str, Path], problem: str, message: str
) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32, d_in=8 if problem == "width" else 16,
                            hook="blocks.9.hook_resid_pre" if problem == "hook" else HOOK)  # fmt: skip
    changes: dict[str, object] = {}
    if problem == "column":
        rows = tiny_world["root"] / "rows.jsonl"
        rows.write_text(json.dumps({"body": "w3 w4"}) + "\n")
        changes["corpus"] = CorpusSpec("local", path=str(rows))
    if problem == "empty":
        (tiny_world["root"] / "empty.txt").write_text("\n\n")
        changes["corpus"] = CorpusSpec("local", path=str(tiny_world["root"] / "empty.txt"))
    if problem == "taken":
        changes["release_id"] = "tiny"
    with pytest.raises(AtlasError, match=message):
        add_release(request(tiny_world, folder, **changes))
    assert not (Path(load_catalog()["tiny"].paths.root).parents[1] / ADDED).exists()
    assert "mine" not in load_catalog()


def test_the_same_add_again_resumes_instead_of_refusing(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    first = add_release(request(tiny_world, folder))
    again = add_release(request(tiny_world, folder))
    assert again == first
    with pytest.raises(AtlasError, match="already"):
        add_release(request(tiny_world, folder, title="another"))


def test_a_corpus_shorter_than_asked_is_a_note_the_caller_shows(tiny_world: dict[str, Path]) -> None:
    folder = saelens_folder(tiny_world["root"], "sae", tiny_world["model"], 32)
    notes: list[str] = []
    release = add_release(request(tiny_world, folder, contexts=100_000), report=lambda *_: None, note=notes.append)
    filled = IndexReader.open(release.paths.index("32")).meta["n_contexts"]
    assert notes == [f"The corpus fills {filled} contexts of 16 tokens, not 100000."] and filled < 100_000


def test_the_lenses_run_on_an_added_release_and_say_what_it_cannot_have(tiny_world: dict[str, Path]) -> None:
    """A release not built here: its lenses read its index's contexts through the model; the tiny model's words
    ("w12") are not alphabetic, so absorption is stored empty and said to be missing, never an error."""
    from backend.lenses.profile import family_lenses, missing_lenses
    from backend.pipeline.artifacts import release_lenses

    large = saelens_folder(tiny_world["root"], "large", tiny_world["model"], 48)
    small = saelens_folder(tiny_world["root"], "small", tiny_world["model"], 24)
    release = add_release(request(tiny_world, large, small))
    lenses = release_lenses(release)
    assert sorted(a.name for a in lenses) == sorted(
        ["co-firing SAE-24→48", "absorption SAE-24", "absorption SAE-48", "facets SAE-24", "facets SAE-48"]
    )
    for artifact in lenses:
        artifact.compute()
    assert all(a.is_current() for a in lenses)
    missing = missing_lenses(release, "48", lenses)
    assert set(missing) == {"seeds", "atomicity", "absorption", "families"} and "too few" in missing["absorption"]
    family = family_lenses(release, lenses).set_index("sae")
    assert family.at["48", "facets_per_latent"] >= 1 and 0 <= family.at["48", "novel_fraction"] <= 1
