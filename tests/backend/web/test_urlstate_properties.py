"""Property tests: any query parameters give a valid view (with warnings) and a link that reproduces it;
anything echoed back is inert Markdown (EXAMPLES per target)."""

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend.sources.catalog import load_catalog
from backend.web.render import CODE_SPAN, md
from backend.web.urlstate import MAX_PROMPT, parse_view

EXAMPLES = 500
KEYS = ["release", "sae", "latent", "q", "text", "token", "m", "t", "st", "order", "colour", "word", "ctx", "mode",
        "set", "prompt", "strength", "clamp", "other"]  # fmt: skip
values = st.text(max_size=80) | st.sampled_from(["tiny", "64", "128", "-1", "1e999", "nan", "0.7", "![x](http://a)"])
CATALOG = load_catalog()


@settings(max_examples=EXAMPLES, deadline=None)
@given(params=st.dictionaries(st.sampled_from(KEYS), values, max_size=len(KEYS)))
def test_any_params_give_a_valid_view_whose_link_reproduces_it(params: dict[str, str]) -> None:
    view = parse_view(params, CATALOG)
    assert view.release in CATALOG and view.sae in CATALOG[view.release].sae_ids
    assert view.latent >= 0 and view.meta_latent >= 0 and len(view.prompt) <= MAX_PROMPT
    assert parse_view(view.params(), CATALOG) == view


UNESCAPED = re.compile(r"(?<!\\)[\[\]()!<>`*_]")


@settings(max_examples=EXAMPLES, deadline=None)
@given(text=st.text(max_size=400))
@example(text="`0`")
@example(text="a\\`b` `c")
def test_echoed_text_is_inert_markdown_and_bounded(text: str) -> None:
    out = md(text, 100)
    assert len(out) <= 3 * 101
    # Outside the code spans md keeps (Markdown reads nothing inside one), every special character is preceded by a
    # backslash (which is itself escaped when in the input).
    stripped = CODE_SPAN.sub("", out).replace("\\\\", "")
    assert not UNESCAPED.search(stripped), out
    assert "\n" not in out
