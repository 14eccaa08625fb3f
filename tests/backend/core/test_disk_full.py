"""A full disk is a typed error that says so and leaves what was there before (an index rewrite on a full disk:
tests/backend/index/test_store_faults.py)."""

import errno
from pathlib import Path

import pytest

from backend.core.errors import DiskFull
from backend.core.files import atomic_path, write_json_atomic


def full(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_atomic_write_on_a_full_disk_says_so_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_json_atomic(target, {"old": 1})
    with pytest.raises(DiskFull, match=r"is full .* free some space"), atomic_path(target):
        full()
    assert target.read_text() == '{\n  "old": 1\n}' and list(tmp_path.iterdir()) == [target]


def test_a_library_error_that_wraps_a_full_disk_is_one_too(tmp_path: Path) -> None:
    from safetensors import SafetensorError

    with pytest.raises(DiskFull), atomic_path(tmp_path / "w.safetensors"):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )
