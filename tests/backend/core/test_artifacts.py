"""The `Artifact` contract, on a fake: current means a stored key equal to the key; `get` computes only what is not
current; `stamp` changes with the inputs or the stored copy; `KeyedTable` keeps its key with its table."""

from pathlib import Path

import pandas as pd

from backend.core.artifacts import Artifact, KeyedTable, canonical
from backend.core.progress import Reporter, silent


class Fake(Artifact[str]):
    """A text file keyed on one input string."""

    def __init__(self, folder: Path, source: str) -> None:
        self.path, self.source, self.computed = folder / "fake.txt", source, 0

    @property
    def name(self) -> str:
        return "fake"

    def files(self) -> list[Path]:
        return [self.path] if self.path.exists() else []

    def key(self) -> str:
        return canonical({"source": self.source})

    def stored_key(self) -> str | None:
        return self.path.read_text().split("\n", 1)[0] if self.path.exists() else None

    def load(self) -> str | None:
        return self.path.read_text().split("\n", 1)[1] if self.path.exists() else None

    def compute(self, report: Reporter = silent) -> str:
        self.computed += 1
        value = self.source.upper()
        self.path.write_text(f"{self.key()}\n{value}")
        return value


class FakeTable(KeyedTable):
    def __init__(self, folder: Path, rows: int) -> None:
        self.folder, self.rows = folder, rows

    @property
    def name(self) -> str:
        return "fake table"

    @property
    def path(self) -> Path:
        return self.folder / "table.parquet"

    def key(self) -> str:
        return canonical({"rows": self.rows})

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        return self.store(pd.DataFrame({"x": range(self.rows)}))


def test_nothing_stored_is_not_current_and_get_computes_once(tmp_path: Path) -> None:
    fake = Fake(tmp_path, "a")
    assert not fake.is_current() and fake.read() is None and fake.files() == [] and fake.stamp() == ("", None)
    assert fake.get() == "A" and fake.get() == "A" and fake.computed == 1
    assert fake.is_current() and fake.read() == "A"


def test_other_inputs_make_the_stored_copy_stale_and_change_the_stamp(tmp_path: Path) -> None:
    before = Fake(tmp_path, "a")
    before.get()
    after = Fake(tmp_path, "b")
    assert not after.is_current() and after.read() is None
    assert after.load() == "A"  # load reads whatever is stored; read only what is current
    assert after.stamp() != before.stamp()
    assert after.get() == "B" and after.computed == 1 and not before.is_current()


def test_the_stored_stamp_changes_with_the_stored_copy(tmp_path: Path) -> None:
    fake = Fake(tmp_path, "a")
    fake.get()
    first = fake.stored_stamp()
    fake.path.write_text(fake.path.read_text() + "!")
    assert fake.stored_stamp() != first and fake.read() == "A!"


def test_a_keyed_table_keeps_its_key_and_a_missing_file_is_not_current(tmp_path: Path) -> None:
    table = FakeTable(tmp_path, 3)
    assert table.stored_key() is None and not table.is_current()
    assert len(table.get()) == 3 and table.stored_key() == table.key()
    assert FakeTable(tmp_path, 4).read() is None and len(FakeTable(tmp_path, 4).get()) == 4
    table.path.unlink()
    assert table.stored_key() is None and table.load() is None


def test_finished_says_a_stored_copy_is_on_disk_whatever_it_was_made_from(tmp_path: Path) -> None:
    fake = Fake(tmp_path, "a")
    assert not fake.finished()
    fake.get()
    assert fake.finished() and Fake(tmp_path, "b").finished() and not Fake(tmp_path, "b").is_current()
