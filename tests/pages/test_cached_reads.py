"""Cached reads (pages/access/keyed.py: `cached`) record the stamps they read, their own and their inner reads', and
are computed again when one changes: no list of inputs to forget."""

import threading
import time

import pandas as pd

from backend.core.errors import StoreError
from pages.access.keyed import cached, stamp


class Disk:
    """Versions of named artifacts, as stamps read them; a missing one raises StoreError."""

    def __init__(self, **versions: int) -> None:
        self.versions = dict(versions)

    def bump(self, name: str) -> None:
        self.versions[name] = self.versions.get(name, 0) + 1


def reads_of(disk: Disk) -> tuple:
    calls: list[str] = []

    @stamp
    def version(name: str) -> int:
        if name not in disk.versions:
            raise StoreError(f"{name} is not built")
        return disk.versions[name]

    @cached(version, shared=True)
    def weights(name: str) -> str:
        calls.append(f"weights {name}")
        return f"{name}@{disk.versions[name]}"

    @cached(lambda name: version(f"index {name}"))
    def table(name: str) -> pd.DataFrame:
        calls.append(f"table {name}")
        return pd.DataFrame({"v": [disk.versions[f"index {name}"]]})

    @cached()
    def joined(name: str) -> str:
        """Reads nothing directly: all it reads comes through the two inner reads."""
        calls.append(f"joined {name}")
        return f"{weights(name)}+{int(table(name)['v'].iloc[0])}"

    return calls, joined, table


def test_an_outer_read_is_computed_again_when_an_input_of_an_inner_read_changes() -> None:
    disk = Disk(a=1, **{"index a": 1})
    calls, joined, _ = reads_of(disk)
    assert joined("a") == "a@1+1"
    assert joined("a") == "a@1+1"
    assert calls == ["joined a", "weights a", "table a"], "a hit computes nothing"
    disk.bump("index a")
    assert joined("a") == "a@1+2"
    assert calls[3:] == ["joined a", "table a"], "only what read the changed index is computed again"


def test_a_read_that_met_a_missing_artifact_is_computed_again_once_it_exists() -> None:
    disk = Disk(a=1)
    calls: list[str] = []
    _, _, table = reads_of(disk)

    @cached()
    def rows_or_none(name: str) -> int | None:
        calls.append(name)
        try:
            return len(table(name))
        except StoreError:
            return None

    assert rows_or_none("a") is None
    assert rows_or_none("a") is None and calls == ["a"]
    disk.versions["index a"] = 1
    assert rows_or_none("a") == 1


def test_unshared_reads_give_each_caller_its_own_copy() -> None:
    disk = Disk(**{"index a": 1})
    _, _, table = reads_of(disk)
    first = table("a")
    first.loc[0, "v"] = 99
    assert int(table("a")["v"].iloc[0]) == 1


def test_concurrent_callers_compute_a_read_once() -> None:
    calls: list[int] = []

    @cached(shared=True)
    def slow(n: int) -> int:
        calls.append(n)
        time.sleep(0.2)
        return n * 2

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(3))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [6] * 5 and calls == [3]
