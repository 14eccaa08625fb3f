"""The view every page shows: the catalog, the URL parsed into a `View`, and values derived from it."""

import os
from collections.abc import Callable

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from backend.core.config import data_dir
from backend.sources.catalog import CATALOG_ENV, load_catalog
from backend.sources.release import Release
from backend.stitching.matching import DEFAULT_THRESHOLD
from backend.web.render import md
from backend.web.urlstate import View, parse_view
from pages.access.keyed import memo, stamps_changed


@st.cache_resource(ttl=60, max_entries=4, show_spinner=False)  # a read of small files; also read by the warm-up
def _catalog(data: str, files: str) -> dict[str, Release]:
    return load_catalog()


@memo
def catalog() -> dict[str, Release]:
    """The catalog, cached for a minute per data directory and catalog files (the inputs it is read from). A
    shared resource, not a copy per call (a rerun asks for it dozens of times): callers must not change it."""
    return _catalog(str(data_dir()), os.environ.get(CATALOG_ENV, ""))


_PAGES = "atlas-pages"


def session_pages(make: Callable[[], dict[str, StreamlitPage]]) -> dict[str, StreamlitPage]:
    """The router's pages by name (also for links to them, `page`), made once per session: each `st.Page` resolves
    its script's path, a realpath per page per run otherwise. Kept per session: page objects shared between
    sessions make concurrent reruns fail ("This page cannot be called directly")."""
    if _PAGES not in st.session_state:
        st.session_state[_PAGES] = make()
    pages: dict[str, StreamlitPage] = st.session_state[_PAGES]
    return pages


def page(name: str) -> StreamlitPage:
    """The router's page named `name` (its URL path; the overview is also served at "/"). Links given a page object
    skip Streamlit's resolution of a script path (a realpath per link: about a tenth of a latent card's rerun, which
    draws dozens of links)."""
    return st.session_state[_PAGES][name]


def refresh_catalog() -> None:
    """Forget the cached catalog (after registering a release or a meta-SAE)."""
    _catalog.clear()
    stamps_changed()


def current_view() -> View:
    """The view named by the URL, written back in canonical form so the address bar always
    reproduces what is shown (page links and fallbacks otherwise leave it stale). The router calls
    this first and shows the warnings; a page's later call sees the canonical, warning-free URL."""
    view = parse_view(st.query_params.to_dict(), catalog())
    st.query_params.from_dict(view.params())
    return view


def show_warnings(view: View) -> None:
    for warning in view.warnings:
        st.warning(md(warning, 500), icon="⚠️")


def meta_id_for(view: View) -> str | None:
    entry = catalog()[view.release].primary_meta(view.sae)
    return entry.id if entry else None


def stitch_threshold(view: View) -> float:
    return view.stitch_threshold if view.stitch_threshold is not None else DEFAULT_THRESHOLD


def family_neighbours(view: View) -> tuple[str | None, str | None]:
    """The next smaller and next larger SAE of the view's SAE in its family."""
    return catalog()[view.release].neighbours(view.sae)
