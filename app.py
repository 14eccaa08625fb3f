"""SAE Atlas: the router. Picks the release and SAE in the sidebar, then runs the chosen page."""

import logging

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from backend.core.errors import AtlasError, StoreError
from backend.pipeline.build import ready_saes
from backend.web.memory import freeze_after_imports
from backend.web.render import md
from backend.web.urlstate import share_link
from pages.access.actions import fetch_published
from pages.access.keyed import new_run
from pages.access.state import catalog, current_view, session_pages, show_warnings
from pages.sections.build_status import build_complete, require_family, require_sae
from pages.sections.widgets import repair_command, style
from pages.specs import DEFAULT_ALIAS, PAGE_SPECS, spec_at

LOG = logging.getLogger("sae_atlas")
new_run()
st.set_page_config(page_title="SAE Atlas", page_icon="🗺️", layout="wide")
style()


def _pages() -> dict[str, StreamlitPage]:
    """Every page, and the default page a second time at its own path (`DEFAULT_ALIAS`). A page's URL path is also
    its identity, so the default entry, served at "/" whatever its path, is named by one no link uses."""
    pages = {
        spec.key: st.Page(
            spec.script,
            title=spec.title,
            url_path=f"{spec.url_path}-default" if spec.default else spec.url_path,
            default=spec.default,
        )
        for spec in PAGE_SPECS
    }
    default = next(spec for spec in PAGE_SPECS if spec.default)
    return {**pages, DEFAULT_ALIAS: st.Page(default.script, title=default.title, url_path=default.url_path)}


PAGES = session_pages(_pages)
navigation = st.navigation(list(PAGES.values()), position="hidden")

try:
    releases = catalog()
    sae_named = "sae" in st.query_params
    view = current_view()
except AtlasError as err:
    st.error(f"The release catalog cannot be read: {md(err)} Fix assets/catalog.toml (or ATLAS_CATALOG) and reload.")
    st.stop()

with st.sidebar:
    st.title("SAE Atlas")
    # Our own links rather than Streamlit's: they carry the release and SAE to the next page. Opened at its alias,
    # the default page's link is the alias's, which is the page running, so the sidebar marks it.
    on_alias = navigation.url_path == PAGES[DEFAULT_ALIAS].url_path
    for spec in PAGE_SPECS:
        target = PAGES[DEFAULT_ALIAS] if spec.default and on_alias else PAGES[spec.key]
        st.page_link(target, query_params={"release": view.release, "sae": view.sae})
    release_ids = list(releases)
    release_id = st.selectbox(
        "Release",
        release_ids,
        index=release_ids.index(view.release),
        format_func=lambda rid: releases[rid].title,
    )
    sae_ids = releases[release_id].sae_ids
    sae_id = st.selectbox(
        "SAE (latents)",
        sae_ids,
        index=sae_ids.index(view.sae) if release_id == view.release else len(sae_ids) - 1,
    )
    if (release_id, sae_id) != (view.release, view.sae):
        st.query_params.from_dict(view.params(release=release_id, sae=sae_id, latent=0))
        st.rerun()
    st.caption(releases[release_id].description)

show_warnings(view)
release = releases[view.release]
if release.published is not None:
    try:
        fetch_published(release.id)
    except AtlasError as err:
        st.error(f"{md(err)} Pick another release in the sidebar, or reload once the Hub can be reached.")
        st.stop()
spec = spec_at(navigation.url_path)
if not build_complete(release) and spec.needs != "nothing":
    ready = ready_saes(release)
    if not sae_named and ready and view.sae not in ready:
        # A link that names no SAE gets the largest one ready while the rest is still being built.
        st.query_params.from_dict(view.params(sae=ready[-1]))
        st.rerun()
    if spec.needs == "family":
        require_family(view, release, spec.family_need)
    else:
        require_sae(view, release)
try:
    navigation.run()
except StoreError as err:
    st.error(f"{md(err)} Repair it with {repair_command(release, view.sae)}; the rest of the app keeps working.")
except AtlasError as err:
    st.error(f"{md(err)} Pick another view in the sidebar, or fix the cause and reload.")
except Exception:
    # A bug, not a bad input: the visitor gets a sentence, the operator the traceback in the server log.
    LOG.exception("Page %s failed", navigation.url_path)
    st.error("This view failed unexpectedly; the details are in the server log. Other views keep working.")

with st.sidebar:
    st.caption("Link to this view (copy with the button at its right):")
    link = share_link(
        st.context.url or "", navigation.url_path, st.query_params.to_dict(), st.get_option("server.baseUrlPath")
    )
    st.code(link, language=None, wrap_lines=True)
freeze_after_imports()
