"""Derived files as one kind of object: every file this machine derives (corpus, activations, SAEs, meta-SAEs,
indexes, matchings, curves, maps, polysemy results) is an `Artifact`.

An artifact knows four things and nothing else answers them: where it lives (`files`, paths from
`ReleasePaths`), what it must be made from (`key`: its inputs' digests and its settings), what the stored
copy was made from (`stored_key`), and how to make it (`compute`). "Is this current?" has one answer,
`is_current`: a stored key equal to the key. The build runs an ordered plan of artifacts
(`read() or compute()`), publish copies each published artifact's files, and the app's caches are keyed on
`stamp()`, so the app and the backend trust the same key.
"""

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors import SafetensorError, safe_open

from backend.core.files import KEY_FIELD, read_keyed_parquet, write_keyed_parquet
from backend.core.progress import Reporter, silent

Value = TypeVar("Value")


class Artifact(ABC, Generic[Value]):
    """One derived file (or folder of files) of a release."""

    published: ClassVar[bool] = True
    """Whether `publish` copies it (scratch inputs such as activations are machine-local)."""

    cpu_bound: ClassVar[bool] = False
    """Whether it computes on the CPU whatever the device, and nothing after it in a build plan reads it: a build on
    a GPU runs it beside the GPU's stages (backend/pipeline/lanes.py)."""

    together: bool = False
    """Whether it may compute at the same time as the `together` artifacts next to it in a build plan (none of them
    reads another): a build on a GPU trains them concurrently where the device's memory allows
    (backend/pipeline/lanes.py)."""

    def device_bytes(self) -> int:
        """Device memory it holds at most while it computes: what `together` artifacts are admitted by."""
        return 0

    @property
    @abstractmethod
    def name(self) -> str:
        """What the build's progress and the status panel call it, e.g. "index SAE-9216"."""

    @abstractmethod
    def files(self) -> list[Path]:
        """The files that make it up, as they are on disk now (none when it was never computed)."""

    @abstractmethod
    def key(self) -> str:
        """What it must be made from: its inputs' digests and its settings."""

    @abstractmethod
    def stored_key(self) -> str | None:
        """What the stored copy was made from (None when there is none, or it cannot be read)."""

    @abstractmethod
    def load(self) -> Value | None:
        """The stored value, whatever it was made from (None when it cannot be read)."""

    @abstractmethod
    def compute(self, report: Reporter = silent) -> Value:
        """Make it from its inputs, store it (atomically, under `key()`) and return it."""

    def finished(self) -> bool:
        """A whole stored copy is on disk (what the router, the build panel and the pages ask of a build under way;
        whether it is current is `is_current`, which asks its inputs)."""
        return bool(self.files())

    def is_current(self) -> bool:
        stored = self.stored_key()
        return stored is not None and stored == self.key()

    def read(self) -> Value | None:
        """The stored value when it is current; None when it is missing, unreadable or made from other inputs."""
        return self.load() if self.is_current() else None

    def get(self, report: Reporter = silent) -> Value:
        """The stored value when current, else computed (and stored) now."""
        found = self.read()
        return found if found is not None else self.compute(report)

    def stored_stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Cheaper than `stamp` (no key is computed): each stored file's name, size and change time. It says when the
        stored copy changed, not whether it is current, so a cache keyed on it also needs its inputs' stamps."""
        found = []
        for path in self.files():
            with suppress(FileNotFoundError):  # removed since `files` listed it: no longer part of the copy
                stat = path.stat()
                found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def stamp(self) -> tuple[str, str | None]:
        """A cache key for anything read from this artifact: changes whenever its inputs or its stored copy do.
        With no stored copy there is nothing to read, so its inputs (which may not exist yet) are not asked."""
        stored = self.stored_key()
        return (self.key() if stored is not None else ""), stored


def published_files(artifacts: Iterable[Artifact]) -> list[Path]:
    """Every file of the published, current artifacts (what a deployment reads)."""
    return [path for artifact in artifacts if artifact.published and artifact.is_current() for path in artifact.files()]


class KeyedTable(Artifact[pd.DataFrame]):
    """An artifact stored as one Parquet table with its key in the schema's metadata."""

    @property
    @abstractmethod
    def path(self) -> Path: ...

    def files(self) -> list[Path]:
        return [self.path] if self.path.exists() else []

    def stored_key(self) -> str | None:
        try:
            metadata = pq.read_schema(self.path).metadata or {}
        except (FileNotFoundError, pa.ArrowInvalid, OSError):
            return None
        raw = metadata.get(KEY_FIELD)
        return raw.decode() if raw is not None else None

    def load(self) -> pd.DataFrame | None:
        stored = self.stored_key()
        return read_keyed_parquet(self.path, stored) if stored is not None else None

    def store(self, frame: pd.DataFrame) -> pd.DataFrame:
        write_keyed_parquet(self.path, frame, self.key())
        return frame


def safetensors_key(path: Path) -> str | None:
    """The `key` a safetensors file was written with (None when missing, unreadable or unkeyed)."""
    try:
        with safe_open(str(path), "pt") as handle:
            return (handle.metadata() or {}).get("key")
    except (FileNotFoundError, SafetensorError, OSError, ValueError):
        return None


def json_field(path: Path, field: str) -> object:
    """One top-level field of a JSON file (None when the file or the field is missing or unreadable)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw.get(field) if isinstance(raw, dict) else None


def canonical(value: object) -> str:
    """A key as a string: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True)
