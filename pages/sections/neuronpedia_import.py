"""The "import labels from Neuronpedia" control of the overview page."""

import streamlit as st

from backend.core.errors import AtlasError
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.actions import import_labels
from pages.access.state import catalog


def import_form(view: View) -> None:
    release = catalog()[view.release]
    neuronpedia_id = release.sae(view.sae).neuronpedia_id
    if not neuronpedia_id:
        return
    with st.expander("Labels from Neuronpedia"):
        st.caption(
            f"Imports the explanations Neuronpedia holds for {neuronpedia_id} and shows them as labels (needs the internet)."
        )
        if st.button("Import labels from Neuronpedia"):
            try:
                with st.spinner("Downloading explanations…"):
                    count = import_labels(view.release, view.sae)
            except AtlasError as err:
                st.error(f"{md(err)} Try again when online.")
                return
            st.success(f"Imported {count:,} explanations.")
