"""One decorator for the pages' caches: a Streamlit cache keyed on a function's arguments and on the stamp of the
artifacts it reads (backend/core/artifacts.py), so a rebuilt SAE, index or analysis is never served stale."""

import functools
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

import streamlit as st

P = ParamSpec("P")
R = TypeVar("R")


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
