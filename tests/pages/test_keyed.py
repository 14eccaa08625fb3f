"""Stamps memoised by `stamp` (pages/access/keyed.py): shared by overlapping runs, kept by a session for a
second, forgotten when the app writes, never memoised outside a script run."""

import threading
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from pages.access import keyed


def test_outside_a_script_run_nothing_is_memoised() -> None:
    calls: list[str] = []

    @keyed.stamp
    def stamp(name: str) -> str:
        calls.append(name)
        return name

    stamp("a"), stamp("a")
    assert calls == ["a", "a"]


class Sessions:
    """Fake script contexts, one session per thread, and a clock the test moves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 100.0
        self._local = threading.local()
        monkeypatch.setattr(keyed, "_clock", lambda: self.now)
        monkeypatch.setattr(keyed, "get_script_run_ctx", lambda suppress_warning: self._local.ctx)
        monkeypatch.setattr(keyed, "_changed_at", 0.0)

    def enter(self, state: dict) -> None:
        """This thread now runs a script of the session whose state is `state`."""
        self._local.ctx = SimpleNamespace(session_state=state)


def counted() -> tuple[list[str], object]:
    reads: list[str] = []

    @keyed.stamp
    def stamp(name: str) -> int:
        reads.append(name)
        return len(reads)

    return reads, stamp


def test_a_session_keeps_its_readings_for_a_second_and_until_the_app_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(monkeypatch)
    reads, stamp = counted()
    sessions.enter({})
    keyed.new_run()
    assert [stamp("a"), stamp("a"), stamp("b")] == [1, 1, 2]
    sessions.now += 0.5
    keyed.new_run()
    assert stamp("a") == 1, "its next run, half a second later, takes its own reading"
    sessions.now += 0.6
    keyed.new_run()
    assert stamp("a") == 3, "more than a second after the reading: read again"
    keyed.stamps_changed()
    assert stamp("a") == 4, "the app wrote: read again"
    assert reads == ["a", "b", "a", "a"]


def test_runs_share_a_reading_made_since_they_began_and_never_an_older_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three sessions on their own threads: B's run began after A's reading, so B reads again; C's run, begun
    before B's reading, takes it."""
    sessions = Sessions(monkeypatch)
    reads, stamp = counted()
    seen: dict[str, int] = {}
    c_began, b_read = threading.Event(), threading.Event()

    def session_a() -> None:
        sessions.enter({})
        keyed.new_run()
        seen["A"] = stamp("x")

    def session_c() -> None:
        sessions.enter({})
        keyed.new_run()
        c_began.set()
        b_read.wait(5)
        seen["C"] = stamp("x")

    def session_b() -> None:
        c_began.wait(5)
        sessions.enter({})
        keyed.new_run()
        seen["B"] = stamp("x")
        b_read.set()

    for run in (session_a,):
        run()
    sessions.now += 0.1
    threads = [threading.Thread(target=session_c), threading.Thread(target=session_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"A": 1, "B": 2, "C": 2}
    assert reads == ["x", "x"]


def _script() -> None:
    import streamlit as st

    from pages.access.keyed import new_run, stamp

    counts = st.session_state.setdefault("counts", [])

    @stamp
    def stamp(name: str) -> int:
        counts.append(name)
        return len(counts)

    new_run()
    st.write(str([stamp("a"), stamp("a"), stamp("b")]))


def test_in_a_real_script_run_a_stamp_is_read_once() -> None:
    at = AppTest.from_function(_script).run()
    assert not at.exception
    assert at.markdown[0].value == "[1, 1, 2]"
