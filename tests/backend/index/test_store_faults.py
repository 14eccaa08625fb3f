"""Faults in the index store: corrupt, truncated or missing files give a StoreError, never a silently different
card; a failed or interrupted rewrite, a full disk included, leaves the previous index readable; a junk
checkpoint is discarded. Property tests: EXAMPLES byte flips per store file."""

import contextlib
import errno
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backend.index.store as store
from backend.core.errors import DiskFull, StoreError
from backend.index.build import CHECKPOINT, PROGRESS, build_index, run_pass
from backend.index.cards import CardReader
from backend.index.plan import IndexPlan
from backend.index.store import DATA_FILES, META, IndexReader, recover, sealed_meta
from tests.backend.index.test_build import ACTS, CFG, KEY, TOKENS, activations
from tests.backend.models.test_formats import random_sae

EXAMPLES = 100
VOCAB = [f"<t{i}>" for i in range(50)]


def cards(folder: Path) -> list[object]:
    reader = CardReader(IndexReader.open(folder))
    return [reader.card(i) for i in range(reader.index.d_sae)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[object]]:
    folder = tmp_path_factory.mktemp("index") / "idx"
    build_index(IndexPlan(random_sae("standard"), TOKENS, activations, CFG, folder, KEY, VOCAB, None))
    return folder, cards(folder)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from([*DATA_FILES, META]), position=st.integers(0, 10**7), xor=st.integers(1, 255))
def test_any_byte_flip_is_a_store_error_or_the_same_cards(
    built: tuple[Path, list[object]], tmp_path_factory: pytest.TempPathFactory, name: str, position: int, xor: int
) -> None:
    source, expected = built
    folder = tmp_path_factory.mktemp("flip") / "idx"
    shutil.copytree(source, folder)
    data = bytearray((folder / name).read_bytes())
    data[position % len(data)] ^= xor
    (folder / name).write_bytes(bytes(data))
    with contextlib.suppress(StoreError):
        assert cards(folder) == expected


@pytest.mark.parametrize("name", DATA_FILES)
def test_a_truncated_or_missing_file_is_a_store_error(
    built: tuple[Path, list[object]], tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(built[0], folder)
    (folder / name).write_bytes((folder / name).read_bytes()[:-7])
    with pytest.raises(StoreError, match="wrong size"):
        cards(folder)
    (folder / name).unlink()
    with pytest.raises(StoreError, match="missing"):
        IndexReader.open(folder)


def test_the_sealed_key_reads_no_data_file_and_refuses_an_altered_meta(
    built: tuple[Path, list[object]], tmp_path: Path
) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(built[0], folder)
    assert sealed_meta(folder)["key"] == IndexReader.open(folder).meta["key"]
    (folder / DATA_FILES[0]).write_bytes(b"damaged")  # what reads the index refuses it; its key is what it was
    assert sealed_meta(folder)["key"] == KEY
    meta = folder / META
    meta.write_text(meta.read_text().replace('"test": 1', '"test": 2', 1))  # a key claimed, not sealed
    assert meta.read_text() != (built[0] / META).read_text()
    with pytest.raises(StoreError, match="checksum"):
        sealed_meta(folder)


def test_a_corrupt_index_is_rebuilt_by_the_same_command(built: tuple[Path, list[object]], tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(built[0], folder)
    (folder / "examples.parquet").write_bytes(b"junk")
    build_index(IndexPlan(random_sae("standard"), TOKENS, activations, CFG, folder, KEY, VOCAB, None))
    assert cards(folder) == built[1]


def test_a_failed_rewrite_keeps_the_old_index(
    built: tuple[Path, list[object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(built[0], folder)

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.np, "save", disk_full)
    with pytest.raises(DiskFull, match="is full"):
        build_index(IndexPlan(random_sae("standard"), TOKENS, activations, CFG, folder, {"other": 1}, VOCAB, None))
    assert cards(folder) == built[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"], "no half-written .idx.new is left"


def test_a_crash_between_the_two_renames_is_undone(built: tuple[Path, list[object]], tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    shutil.copytree(built[0], folder)
    folder.rename(folder.with_name(".idx.old"))
    recover(folder)
    assert cards(folder) == built[1]


@pytest.mark.parametrize("junk", [b"", b"not safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_a_junk_checkpoint_is_discarded_and_the_pass_starts_over(tmp_path: Path, junk: bytes) -> None:
    sae = random_sae("standard")
    whole = run_pass(sae, TOKENS, activations, CFG, tmp_path / "a", KEY)
    assert run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY, stop_after=2) is None
    (tmp_path / "b" / CHECKPOINT).write_bytes(junk)
    resumed = run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY)
    assert whole is not None and resumed is not None
    assert all(torch.equal(t, getattr(resumed, n)) for n, t in whole.tensors().items())


def test_a_checkpoint_of_the_wrong_shape_is_discarded(tmp_path: Path) -> None:
    sae, other = random_sae("standard"), random_sae("standard", d_sae=12)
    assert run_pass(other, TOKENS, activations, CFG, tmp_path / "w", KEY, stop_after=2) is None
    whole = run_pass(sae, TOKENS, activations, CFG, tmp_path / "fresh", KEY)
    resumed = run_pass(sae, TOKENS, activations, CFG, tmp_path / "w", KEY)
    assert whole is not None and resumed is not None and (tmp_path / "w" / PROGRESS).exists()
    assert torch.equal(whole.max, resumed.max) and ACTS.shape[-1] == sae.cfg.d_in


def test_a_progress_file_edited_to_claim_more_batches_is_redone(tmp_path: Path) -> None:
    import json

    sae = random_sae("standard")
    whole = run_pass(sae, TOKENS, activations, CFG, tmp_path / "a", KEY)
    assert run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY, stop_after=1) is None
    progress = json.loads((tmp_path / "b" / PROGRESS).read_text())
    progress["batches_done"] += 3
    (tmp_path / "b" / PROGRESS).write_text(json.dumps(progress))
    resumed = run_pass(sae, TOKENS, activations, CFG, tmp_path / "b", KEY)
    assert whole is not None and resumed is not None
    assert all(torch.equal(t, getattr(resumed, n)) for n, t in whole.tensors().items())
