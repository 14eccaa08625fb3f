"""What a visitor can make the server read: only uploads and the allowed folders, refused alike whether a path
exists or not; a visitor's add request keeps every local path (SAEs, model, corpus) inside them."""

import json
from pathlib import Path

import pytest

from backend.core.errors import AtlasError
from backend.pipeline.add import AddRequest, add_release
from backend.pipeline.visitor import (
    confined,
    offered_corpora,
    offered_saes,
    save_corpus_upload,
    save_sae_upload,
)
from backend.sources.release import CorpusSpec
from tests.backend.tiny_models import saelens_folder

SECRET = "the-launch-code-is-0000"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A folder outside every allowed folder, holding a secret as a corpus and a SAELens-looking folder."""
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "notes.txt").write_text(f"{SECRET}\n" * 50)
    return folder


def message(path: str | Path) -> str:
    with pytest.raises(AtlasError) as err:
        confined(path, "corpus")
    return str(err.value)


def test_outside_paths_are_refused_with_one_message_whether_they_exist_or_not(
    tiny_world: dict[str, Path], secret: Path
) -> None:
    data = Path(tiny_world["root"] / "data")
    inside = data / "uploads" / "x.txt"
    assert confined(inside, "corpus") == inside.resolve()
    existing, missing = message(secret / "notes.txt"), message(secret / "nothing-here.txt")
    assert existing == message(secret) == missing
    assert str(secret) not in existing and str(data) not in existing
    assert message(data / ".." / "private" / "notes.txt") == existing
    (data / "uploads").mkdir(parents=True, exist_ok=True)
    (data / "uploads" / "link").symlink_to(secret)
    assert message(data / "uploads" / "link" / "notes.txt") == existing


def test_the_offers_list_allowed_folders_by_label_and_leave_derived_files_out(
    tiny_world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, secret: Path
) -> None:
    allowed = tiny_world["root"] / "allowed"
    saelens_folder(allowed, "my-sae", tiny_world["model"], 32)
    (allowed / "texts.jsonl").write_text(json.dumps({"text": "hello"}) + "\n")
    monkeypatch.setenv("ATLAS_ALLOWED_ROOTS", str(allowed))
    assert [(o.label, o.path) for o in offered_saes()] == [("allowed/my-sae", allowed / "my-sae")]
    assert [o.label for o in offered_corpora()] == ["allowed/texts.jsonl"]
    monkeypatch.delenv("ATLAS_ALLOWED_ROOTS")
    data = tiny_world["root"] / "data"
    (data / "releases" / "r" / "index").mkdir(parents=True)
    (data / "releases" / "r" / "index" / "examples.parquet").write_bytes(b"x")
    (data / "uploads" / "r").mkdir(parents=True)
    (data / "uploads" / "r" / "corpus.txt").write_text("words\n")
    assert [o.label for o in offered_corpora()] == ["data/uploads/r/corpus.txt"]


def test_uploads_are_saelens_files_or_corpus_files_and_land_under_the_release(tiny_world: dict[str, Path]) -> None:
    folder = save_sae_upload("mine", [("cfg.json", b"{}"), ("sae_weights.safetensors", b"w")])
    assert folder.parent == tiny_world["root"] / "data" / "uploads" / "mine"
    assert save_sae_upload("mine", [("sae_weights.safetensors", b"w"), ("cfg.json", b"{}")]) == folder
    for files in ([("cfg.json", b"{}")], [("cfg.json", b"{}"), ("sae_weights.safetensors", b""), ("../x", b"")]):
        with pytest.raises(AtlasError, match=r"An uploaded SAE is cfg\.json"):
            save_sae_upload("mine", files)
    with pytest.raises(AtlasError, match="must be 1-64 letters"):
        save_sae_upload("../../etc", [("cfg.json", b"{}"), ("sae_weights.safetensors", b"w")])
    assert save_corpus_upload("mine", "Texts.TXT", b"a\n").suffix == ".txt"
    for name in ("run.sh", "notes.exe", "x.txt\x00.parquet", "../up.txt", "a\\b.txt", "..", "line\nbreak.txt"):
        with pytest.raises(AtlasError, match=r"A corpus upload is a \.txt, \.jsonl, \.parquet file"):
            save_corpus_upload("mine", name, b"#!")


def visitor(tiny_world: dict[str, Path], sae: Path | str, **changes: object) -> AddRequest:
    corpus = CorpusSpec("local", path=str(tiny_world["root"] / "allowed" / "corpus.txt"))
    fields: dict = {"release_id": "mine", "sources": (str(sae),), "corpus": corpus, "contexts": 16, "confined": True}
    return AddRequest(**{**fields, **changes})


def test_a_visitor_request_reads_nothing_outside_the_allowed_folders(
    tiny_world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, secret: Path
) -> None:
    allowed = tiny_world["root"] / "allowed"
    allowed.mkdir()
    (allowed / "corpus.txt").write_text(tiny_world["corpus"].read_text())
    model = allowed / "model"
    tiny_world["model"].rename(model)
    monkeypatch.setenv("ATLAS_ALLOWED_ROOTS", str(allowed))
    sae = saelens_folder(allowed, "sae", model, 32)
    outside = saelens_folder(secret, "sae", model, 32)
    refusals = [
        visitor(tiny_world, outside),
        visitor(tiny_world, secret / "missing"),
        visitor(tiny_world, sae, corpus=CorpusSpec("local", path=str(secret / "notes.txt"))),
        visitor(tiny_world, sae, model=f"local:{secret}"),
        visitor(tiny_world, sae, model="../private"),
    ]
    for request in refusals:
        with pytest.raises(AtlasError, match="nothing else on the server is read") as err:
            add_release(request)
        assert str(secret) not in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(AtlasError, match="neither a Hub repo"):
        add_release(visitor(tiny_world, "someone/saes/../../.."))
    notes: list[str] = []
    release = add_release(visitor(tiny_world, sae), report=lambda *_: None, note=notes.append)
    assert release.sae_ids == ["32"] and str(allowed) not in release.description
