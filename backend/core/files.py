"""Atomic file writes (a reader sees the old file or the new one, never half of one), and keyed Parquet
caches: a table stored with the key of what it was computed from, reused only when the key matches."""

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend.core.errors import DiskFull

KEY_FIELD = b"key"


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) contents to the disk, so a power cut after a rename cannot leave
    the new name pointing at unwritten blocks."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(err: BaseException) -> bool:
    """`err` (an OSError, or a library's error wrapping one, such as safetensors') says the disk or quota is full."""
    if isinstance(err, DiskFull) or (isinstance(err, OSError) and err.errno in _FULL):
        return True
    return any(os.strerror(code) in str(err) for code in _FULL) or "os error 28" in str(err)


def disk_full(where: Path) -> DiskFull:
    """The typed error for a write under `where` that ran out of space, with what is free there now."""
    try:
        free = f"{shutil.disk_usage(where).free / 1e6:.0f} MB free"
    except OSError:
        free = "free space unknown"
    return DiskFull(
        f"The disk holding {where} is full ({free}): free some space and run it again. Nothing was half-written; "
        "what was there before is unchanged."
    )


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is flushed to disk and replaces `target`
    in one rename (then the folder's entry is flushed too). On any failure `target` is left as it was and the
    temporary file removed; a full disk raises `DiskFull`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except Exception as err:
        if is_disk_full(err):
            raise disk_full(target.parent) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def locked(path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive `flock` on `path`: read-modify-write of a shared file by several processes (two app
    sessions registering at once) then loses no one's change. Without `wait`, BlockingIOError at once when another
    process holds it. The kernel drops the lock when a process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(target: Path, data: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))


def read_keyed_parquet(path: Path, key: str) -> pd.DataFrame | None:
    """The table stored at `path` if it was written with this `key` (what it was computed from);
    None when it is missing, unreadable or computed from something else, so the caller recomputes."""
    try:
        table = pq.read_table(path)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return None
    if (table.schema.metadata or {}).get(KEY_FIELD, b"").decode() != key:
        return None
    return table.to_pandas()


def write_keyed_parquet(path: Path, frame: pd.DataFrame, key: str) -> None:
    """Store `frame` at `path` atomically, tagged with `key`."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata({KEY_FIELD.decode(): key}), tmp)
