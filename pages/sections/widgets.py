"""Small widgets every page uses: links to latent and meta-latent cards, the index check, the Streamlit
progress adapter, the stylesheet."""

from collections.abc import Callable
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from backend.core.config import ASSETS, read_only
from backend.core.errors import AtlasError
from backend.core.progress import Reporter
from backend.explore.exports import quick_list_link, table_bytes
from backend.sources.release import Release
from backend.web.render import md
from backend.web.urlstate import View
from pages.access.indexes import cards, latent_labels
from pages.access.state import catalog, page

CSS = (ASSETS / "style.css").read_text()


def index_ready(view: View, quiet: bool = False) -> bool:
    """Whether the SAE has an index; if not, say how to build one (unless `quiet`) and return False."""
    try:
        cards(view.release, view.sae)  # opening the index checks every file
    except AtlasError as err:
        if quiet:
            return False
        st.error(f"{md(err)} To build it, run {repair_command(catalog()[view.release], view.sae)}.")
        return False
    return True


def repair_command(release: Release, sae_id: str) -> str:
    """The command that builds (or rebuilds, when missing or corrupt) what the app reads for this SAE."""
    if release.built:
        return f"`python -m backend build --release {release.id}`"
    return f"`python -m backend index --release {release.id} --sae {sae_id}`"


def action_allowed(what: str, command: str) -> bool:
    """Whether the app may do `what` (train, compute, import, parse an upload); on a read-only deployment it
    may not, and says where it is done instead (`command`)."""
    if read_only():
        st.caption(f"This deployment is read-only: {what} is done where the release is built, with `{command}`.")
        return False
    return True


def latent_link(
    view: View, latent: int, label: str = "", sae: str | None = None, limit: int = 80, value: str = ""
) -> None:
    """A link to a latent's card, in another SAE of the family when `sae` is given; `label` is cut at `limit`.
    `value` (a score, a cosine) ends the link's text: one element per row, not a row of columns (each element
    costs the server time on every rerun)."""
    prefix = f"SAE-{sae} " if sae and sae != view.sae else ""
    tail = f" · `{value}`" if value else ""
    st.page_link(
        page("latent"),
        label=f"{prefix}#{latent} {md(label, limit)}".strip() + tail,
        query_params=view.params(latent=latent, sae=sae or view.sae, q=None, text=None, token=None),
    )


LINKED = 12
"""Latents of a long list linked one by one, first of the list; the whole list is one table (`linked_list`). Every
link is a message the server sends on each rerun: a stitching group can hold hundreds of latents (the default's
largest SAE-4608 → SAE-9216 group, at 0.70, has 846), and listing one in full made one card in twenty cost as much as
twenty cards."""


def linked_list(view: View, ranked: list[tuple[int, float]], value: str, sae: str | None = None) -> None:
    """`ranked` latents of SAE `sae` (this one by default), each with its `value` (its column's name): the first
    `LINKED` as links, and when there are more, every one in a table (under an expander) with a link to its card."""
    sae_id = sae or view.sae
    labels = latent_labels(view.release, sae_id)
    for latent, number in ranked[:LINKED]:
        latent_link(view, latent, labels[latent] if labels else "", sae=sae_id, value=f"{number:.3f}")
    if len(ranked) <= LINKED:
        return
    with st.expander(f"All {len(ranked):,}" + (f" in SAE-{sae_id}" if sae_id != view.sae else "")):
        table = pd.DataFrame(
            {
                "latent": [latent for latent, _ in ranked],
                "label": [labels[latent] if labels else "" for latent, _ in ranked],
                value: [round(number, 3) for _, number in ranked],
                # Relative links: they resolve beside this page, under any base path the server has.
                "card": [
                    "latent?" + urlencode(view.params(latent=latent, sae=sae_id, q=None, text=None, token=None))
                    for latent, _ in ranked
                ],
            }
        )
        st.dataframe(
            table, hide_index=True, column_config={"card": st.column_config.LinkColumn("card", display_text="open")}
        )


def meta_link(view: View, meta_latent: int, label: str = "", value: str = "") -> None:
    tail = f" · `{value}`" if value else ""
    st.page_link(
        page("meta"),
        label=f"meta {meta_latent} {md(label, 80)}".strip() + tail,
        query_params=view.params(m=meta_latent, q=None, text=None, token=None),
    )


def style() -> None:
    st.html(f"<style>{CSS}</style>")


def progress_bar(first_text: str) -> Reporter:
    """A `Reporter` that draws one Streamlit progress bar, its text naming the step and the count."""
    bar = st.progress(0.0, text=first_text)

    def report(step: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=f"{step}: {done} of {total}")

    return report


def table_downloads(frame: Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """CSV and Parquet download buttons for a table built only when one is clicked."""
    left, right, _ = st.columns([1, 1, 4])
    for column, fmt in ((left, "csv"), (right, "parquet")):
        column.download_button(
            f"⬇ {fmt.upper()}",
            lambda fmt=fmt: table_bytes(frame(), fmt),  # type: ignore[misc]
            file_name=f"{name}.{fmt}",
            mime="text/csv" if fmt == "csv" else "application/vnd.apache.parquet",
            on_click="ignore",
            key=f"{key}-{fmt}",
        )


def quick_list(view: View, latents: list[int], name: str) -> None:
    """A link opening `latents` as a Neuronpedia quick-list, for SAEs Neuronpedia hosts."""
    neuronpedia_id = catalog()[view.release].sae(view.sae).neuronpedia_id
    if neuronpedia_id and latents:
        st.link_button("Open as a Neuronpedia quick-list", quick_list_link(neuronpedia_id, latents, name))
