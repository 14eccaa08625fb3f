"""The pages' caches: a Streamlit cache keyed on a function's arguments and on the stamp of the artifacts it reads
(backend/core/artifacts.py), so a rebuilt SAE, index or analysis is never served stale; and stamps read once for many
calls (`memo_stamp`), not once per cached call."""

import functools
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

P = ParamSpec("P")
R = TypeVar("R")

READ_SECONDS = 1.0
"""How long a session keeps its own stamp readings across its reruns (a visitor clicking through cards), and how
long a fragment's rerun, which does not start a run of the router, trusts the stamps its run read."""

_clock = time.monotonic
_run = threading.local()
_read: dict[Hashable, tuple[float, Any]] = {}
"""Every memoised stamp of this process: (when its reading began, value), for the runs of every session."""
_OWN = "atlas-stamps"
"""The session-state key of a session's own readings (AppTest gives all its sessions one id; their states differ)."""
_changed_at = 0.0
"""When the app itself last changed stored data (`stamps_changed`): no reading from before then is taken."""


def new_run() -> None:
    """Start this thread's run (the router calls it as each run starts): other sessions' readings from before now
    are not taken."""
    _run.since = _clock()


def stamps_changed() -> None:
    """Forget every stamp read so far: the app has just written (an artifact computed, a release registered), and
    the rerun that follows must see it."""
    global _changed_at
    _changed_at = _clock()


def memo_stamp(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` (a stamp: stat calls and small reads) read once for many calls: a latent card asks for the same SAEs' and
    indexes' stamps dozens of times a run. A run takes a reading any session made since the run began (fifty
    sessions' overlapping runs read each stamp once between them) or one its own session made in the last
    `READ_SECONDS`; never one from before the app last wrote (`stamps_changed`). So a new visitor's run sees every
    change made before it began, and a visitor's own reruns see a build's progress within a second. Outside a
    script run (the command line, tests calling a page's functions) nothing is memoised. Errors are not memoised."""

    @functools.wraps(fn)
    def memoised(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = get_script_run_ctx(suppress_warning=True)
        if ctx is None:
            return fn(*args, **kwargs)
        now = _clock()
        if getattr(_run, "since", None) is None or now - _run.since > READ_SECONDS:
            new_run()
        key = (fn, args, tuple(kwargs.items()))
        if _OWN not in ctx.session_state:
            ctx.session_state[_OWN] = {}
        own: dict[Hashable, tuple[float, Any]] = ctx.session_state[_OWN]
        for found, oldest in ((_read.get(key), _run.since), (own.get(key), now - READ_SECONDS)):
            if found is not None and found[0] >= oldest and found[0] > _changed_at:
                return found[1]
        value = fn(*args, **kwargs)
        _read[key] = own[key] = (now, value)
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
