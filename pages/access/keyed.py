"""The pages' caches. A cached read (`cached`) is keyed on its arguments and stays valid while what it read is
unchanged. What it read is recorded as it runs, never listed by hand: every read of stored data goes through a
*stamp* (`stamp`: a cheap function naming the version of one artifact: stat calls and small reads), and a cached
read keeps the stamps taken while it computed, its own and those of the cached reads it called. A hit checks those
stamps again (memoised, so a card's dozens of hits cost dict lookups) and recomputes when one changed: a rebuilt SAE,
index or analysis is never served stale, and no list of inputs can forget one.

Stamps are read once for many calls (`stamp`): a run takes a reading any session made since the run began, or one
its own session made in the last second, never one from before the app last wrote (`stamps_changed`)."""

import contextlib
import functools
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from backend.core.errors import AtlasError

P = ParamSpec("P")
R = TypeVar("R")
Reading = tuple[Callable[..., Any], tuple, tuple]
"""One stamp read: (stamp function, args, kwargs items)."""

READ_SECONDS = 1.0
"""How long a session keeps its own stamp readings across its reruns (a visitor clicking through cards), and how
long a fragment's rerun, which does not start a run of the router, trusts the stamps its run read."""

MISSING = "missing"
"""What a stamp reads as while its artifact cannot be read (it raised AtlasError): a cached read that met it (and,
say, showed "not built yet") is computed again once the artifact exists."""

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
    are not taken, and every cached read is checked again once."""
    _run.since = _clock()
    _run.token = object()


def stamps_changed() -> None:
    """Forget every stamp read so far: the app has just written (an artifact computed, a release registered), and
    the rerun that follows must see it."""
    global _changed_at
    _changed_at = _clock()


def _this_run(now: float) -> object:
    """This thread's run token; a new run begins when it is older than `READ_SECONDS` (a fragment's rerun, which
    does not start a run of the router)."""
    if getattr(_run, "since", None) is None or now - _run.since > READ_SECONDS:
        new_run()
    return _run.token


def _frames() -> list[dict[Reading, Any]]:
    """The stamps read by each cached read this thread is computing, innermost last."""
    if not hasattr(_run, "frames"):
        _run.frames = []
    return _run.frames


def _note(reading: Reading, value: Any) -> None:
    frames = _frames()
    if frames:
        frames[-1][reading] = value


def _memoised(fn: Callable[..., R], args: tuple, kwargs: dict[str, Any]) -> R:
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return fn(*args, **kwargs)
    now = _clock()
    _this_run(now)
    key = (fn, args, tuple(kwargs.items()))
    own = _own_readings(ctx)
    for found, oldest in ((_read.get(key), _run.since), (own.get(key), now - READ_SECONDS)):
        if found is not None and found[0] >= oldest and found[0] > _changed_at:
            return found[1]
    value = fn(*args, **kwargs)
    _read[key] = own[key] = (now, value)
    return value


def memo(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` read once for many calls within a script run, as a stamp is, but not recorded (the catalog: the
    cached reads record the one release they read, `stamps.release`)."""

    @functools.wraps(fn)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        return _memoised(fn, args, kwargs)

    return read


def _own_readings(ctx: Any) -> dict[Hashable, tuple[float, Any]]:
    """The session's own readings, fetched from its state once per run (session state is behind a lock)."""
    if getattr(_run, "own_for", None) is not ctx:
        if _OWN not in ctx.session_state:
            ctx.session_state[_OWN] = {}
        _run.own_for, _run.own = ctx, ctx.session_state[_OWN]
    own: dict[Hashable, tuple[float, Any]] = _run.own
    return own


def stamp(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` names the version of what one read of stored data reads (stat calls and small reads). Read once for many
    calls within a script run (see the module's docstring); outside one (the command line, tests calling a page's
    functions) every call reads. Each reading is recorded for the cached reads computing now; one that raises
    AtlasError is recorded as `MISSING`, then raised. Errors are not memoised."""

    @functools.wraps(fn)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        reading = (read, args, tuple(kwargs.items()))
        try:
            value = _memoised(fn, args, kwargs)
        except AtlasError:
            _note(reading, MISSING)
            raise
        _note(reading, value)
        return value

    return read


def _current(reading: Reading) -> Any:
    fn, args, kwargs = reading
    try:
        return fn(*args, **dict(kwargs))
    except AtlasError:
        return MISSING


@dataclass
class _Slot:
    """One cached value with the stamps it was computed under; its lock makes concurrent sessions compute it once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    value: Any = None
    readings: dict[Reading, Any] | None = None
    checked_in: object = None
    """The run (`new_run`'s token) that last found it valid: a run checks a read once, however often it asks."""

    def valid(self) -> bool:
        """The stamps it was computed under read the same now (read again, and so recorded for the caller)."""
        if self.readings is None:
            return False
        token = _this_run(_clock()) if get_script_run_ctx(suppress_warning=True) is not None else None
        if token is not None and self.checked_in is token:
            frames = _frames()
            if frames:
                frames[-1].update(self.readings)
            return True
        if all(_current(r) == value for r, value in self.readings.items()):
            self.checked_in = token
            return True
        return False


def _spinner(text: str | None) -> contextlib.AbstractContextManager:
    if text and get_script_run_ctx(suppress_warning=True) is not None:
        return st.spinner(text)
    return contextlib.nullcontext()


def cached(
    reads: Callable[..., Any] | None = None, *, shared: bool = False, max_entries: int = 8, spinner: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Cache the decorated read on its arguments, valid while every stamp it read is unchanged. `reads` is the
    stamp of what it reads directly from disk (a `stamp` taking the same arguments); what it reads through other
    cached reads is recorded from them. `shared`: every caller gets the one object (models, SAEs, readers, tables
    read-only by convention); otherwise each gets its own copy (a pickled value, as `st.cache_data` does).
    `spinner` is shown while it computes in a page."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        guard = threading.Lock()

        def slot_for(key: Hashable) -> _Slot:
            with guard:
                slot = slots.get(key)
                if slot is None:
                    slot = slots[key] = _Slot()
                    while len(slots) > max_entries:
                        slots.popitem(last=False)
                slots.move_to_end(key)
                return slot

        def compute(args: tuple, kwargs: dict[str, Any]) -> tuple[Any, dict[Reading, Any]]:
            frames = _frames()
            frames.append({})
            try:
                if reads is not None:
                    reads(*args, **kwargs)
                with _spinner(spinner):
                    value = fn(*args, **kwargs)
            finally:
                found = frames.pop()
                if frames:
                    frames[-1].update(found)
            return (value if shared else pickle.dumps(value, pickle.HIGHEST_PROTOCOL)), found

        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            slot = slot_for((args, tuple(kwargs.items())))
            with slot.lock:
                if not slot.valid():
                    slot.value, slot.readings = compute(args, kwargs)
                value = slot.value
            # Bytes this process pickled itself (compute, above): each caller's own copy, as st.cache_data gives.
            return value if shared else pickle.loads(value)

        return call

    return wrap
