"""Every page of the app, once: its script, title, URL path and what it needs before it can draw. The router
(app.py) builds the navigation, the sidebar's links and its gating from this list, and the tests check every script
on it. Adding a page: its script in pages/views/ and one line here."""

from dataclasses import dataclass
from typing import Literal

Needs = Literal["sae", "family", "nothing"]


@dataclass(frozen=True)
class PageSpec:
    key: str
    """The name pages link to it by (`st.switch_page`, `page_link` through `session_pages`)."""
    title: str
    url_path: str
    needs: Needs = "sae"
    """sae: the view's SAE built; family: every SAE of the release built (the router says `family_need` is waiting);
    nothing: reads no SAE of the sidebar's release."""
    family_need: str = ""
    """For `needs = "family"`: what waits for the family, as the router says it."""
    default: bool = False

    @property
    def script(self) -> str:
        """Its script, relative to the project root (where Streamlit runs)."""
        return f"pages/views/{self.key}.py"


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("overview", "SAE overview", "overview", default=True),
    PageSpec("latent", "Latent card", "latent"),
    PageSpec("meta", "Meta-latent card", "meta"),
    PageSpec("search", "Search", "search"),
    PageSpec("stitching", "Stitching", "stitching", needs="family", family_need="Stitching"),
    PageSpec("canonical", "Canonical units?", "canonical"),
    PageSpec("map", "Latent map", "map"),
    PageSpec("polysemy", "Polysemy probes", "polysemy", needs="family", family_need="The polysemy benchmark"),
    PageSpec("add", "Add your SAE", "add", needs="nothing"),
)


DEFAULT_ALIAS = "default at its path"
"""The router's key for the default page's second entry, at the default page's own URL path: Streamlit serves the
default page at "/" only, so a link typed as `/overview?...` would open under "Page not found"."""


def spec_at(url_path: str) -> PageSpec:
    """The page Streamlit's navigation is on: its `url_path` ("" for the default page, as Streamlit says it, or the
    default page's own path, where `DEFAULT_ALIAS` answers)."""
    return next(spec for spec in PAGE_SPECS if url_path in ({"", spec.url_path} if spec.default else {spec.url_path}))
