"""Stamps memoised per run (pages/views/keyed.py): once per run inside a script, never outside one."""

from streamlit.testing.v1 import AppTest

from pages.views.keyed import per_run


def test_outside_a_script_run_nothing_is_memoised() -> None:
    calls: list[str] = []

    @per_run
    def stamp(name: str) -> str:
        calls.append(name)
        return name

    stamp("a"), stamp("a")
    assert calls == ["a", "a"]


def _script() -> None:
    import streamlit as st

    from pages.views.keyed import new_run, per_run

    counts = st.session_state.setdefault("counts", [])

    @per_run
    def stamp(name: str) -> int:
        counts.append(name)
        return len(counts)

    new_run()
    first = [stamp("a"), stamp("a"), stamp("b")]
    new_run()
    st.write(str((first, stamp("a"))))


def test_a_stamp_is_read_once_per_run_and_again_in_the_next() -> None:
    at = AppTest.from_function(_script).run()
    assert not at.exception
    assert at.markdown[0].value == "([1, 1, 2], 3)"
    at.run()
    assert at.markdown[0].value == "([4, 4, 5], 6)"
