"""SAE Atlas: the router. Picks the release and SAE in the sidebar, then runs the chosen page."""

import logging

import streamlit as st

from backend.core.errors import AtlasError, StoreError
from backend.pipeline.build import ready_saes
from backend.web.render import md
from backend.web.urlstate import share_link
from pages.views.actions import fetch_published
from pages.views.build_status import build_complete, require_family, require_sae
from pages.views.keyed import new_run
from pages.views.memory import freeze_after_imports
from pages.views.state import catalog, current_view, remember_pages, show_warnings
from pages.views.widgets import repair_command, style

LOG = logging.getLogger("sae_atlas")
new_run()
st.set_page_config(page_title="SAE Atlas", page_icon="🗺️", layout="wide")
style()

PAGES = {
    "overview": st.Page("pages/views/overview.py", title="SAE overview", url_path="overview", default=True),
    "latent": st.Page("pages/views/latent.py", title="Latent card", url_path="latent"),
    "meta": st.Page("pages/views/meta.py", title="Meta-latent card", url_path="meta"),
    "search": st.Page("pages/views/search.py", title="Search", url_path="search"),
    "stitching": st.Page("pages/views/stitching.py", title="Stitching", url_path="stitching"),
    "canonical": st.Page("pages/views/canonical.py", title="Canonical units?", url_path="canonical"),
    "map": st.Page("pages/views/map.py", title="Latent map", url_path="map"),
    "polysemy": st.Page("pages/views/polysemy.py", title="Polysemy probes", url_path="polysemy"),
    "add": st.Page("pages/views/add.py", title="Add your SAE", url_path="add"),
}
# Pages that read every SAE of the family; the others need only the view's SAE. (A comment, not a
# docstring: Streamlit's magic would draw a bare string in the router on every page.)
FAMILY_PAGES = {"stitching": "Stitching", "polysemy": "The polysemy benchmark"}
STANDALONE_PAGES = {"add"}  # they read no SAE of the sidebar's release
navigation = st.navigation(list(PAGES.values()), position="hidden")
remember_pages(PAGES)

try:
    releases = catalog()
    sae_named = "sae" in st.query_params
    view = current_view()
except AtlasError as err:
    st.error(f"The release catalog cannot be read: {md(err)} Fix assets/catalog.toml (or ATLAS_CATALOG) and reload.")
    st.stop()

with st.sidebar:
    st.title("SAE Atlas")
    # Our own links rather than Streamlit's: they carry the release and SAE to the next page.
    for page in PAGES.values():
        st.page_link(page, query_params={"release": view.release, "sae": view.sae})
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
if not build_complete(release) and navigation.url_path not in STANDALONE_PAGES:
    ready = ready_saes(release)
    if not sae_named and ready and view.sae not in ready:
        # A link that names no SAE gets the largest one ready while the rest is still being built.
        st.query_params.from_dict(view.params(sae=ready[-1]))
        st.rerun()
    if navigation.url_path in FAMILY_PAGES:
        require_family(view, release, FAMILY_PAGES[navigation.url_path])
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
