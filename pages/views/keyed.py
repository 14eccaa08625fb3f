"""The pages' caches: a Streamlit cache keyed on a function's arguments and on the stamp of the artifacts it reads
(backend/core/artifacts.py), so a rebuilt SAE, index or analysis is never served stale; and stamps read once per
run (`per_run`), not once per cached call."""

import functools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

P = ParamSpec("P")
R = TypeVar("R")

RUN_SECONDS = 1.0
"""The longest a memoised stamp is trusted: a fragment's rerun does not start a run of the router, so its stamps
come from the last full run unless they are older than this."""

_run = threading.local()


def new_run() -> None:
    """Forget the stamps memoised by this thread's earlier run (the router calls it as each run starts)."""
    _run.values, _run.since = {}, time.monotonic()


def per_run(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` (a stamp: stat calls and small reads) computed once per run of a page for each set of arguments: a latent
    card asks for the same SAEs' and indexes' stamps dozens of times. Each session's script runs on its own thread,
    so runs of different sessions never share a memo; outside a script run (the command line, tests calling a page's
    functions) nothing is memoised. Errors are not memoised."""

    @functools.wraps(fn)
    def memoised(*args: P.args, **kwargs: P.kwargs) -> R:
        if get_script_run_ctx(suppress_warning=True) is None:
            return fn(*args, **kwargs)
        if getattr(_run, "values", None) is None or time.monotonic() - _run.since > RUN_SECONDS:
            new_run()
        key = (fn, args, tuple(kwargs.items()))
        if key not in _run.values:
            _run.values[key] = fn(*args, **kwargs)
        value: R = _run.values[key]
        return value

    return memoised


def keyed(
    stamp: Callable[..., Hashable], *, resource: bool = False, **options: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache the decorated function (`st.cache_resource` when `resource`: one shared object, never to be changed;
    else `st.cache_data`: a copy per call) on its arguments and `stamp(*args)`, which names the versions of the
    artifacts it reads. `options` go to Streamlit (max_entries, show_spinner)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        def stamped(*args: Any, artifact_stamp: Hashable, **kwargs: Any) -> R:
            return fn(*args, **kwargs)

        # Streamlit names a cache by the function's qualified name and source: those of `fn`, not of `stamped`.
        functools.update_wrapper(stamped, fn)
        cached = (st.cache_resource if resource else st.cache_data)(**options)(stamped)

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return cached(*args, artifact_stamp=stamp(*args, **kwargs), **kwargs)

        return call

    return wrap
