"""HTML for token sequences with per-token highlighting. Model text is untrusted: every token is escaped."""

import functools
import html
import itertools
import os
import re
from pathlib import Path

from huggingface_hub import constants as hub_constants

from backend.core.config import ALLOWED_ROOTS_ENV, DATA_DIR_ENV, PROJECT_ROOT, allowed_roots, data_dir


def token_text(token: str) -> str:
    """A token as shown inline: escaped, newlines as a visible mark."""
    return html.escape(token, quote=True).replace("\n", "↵")


def highlighted_tokens(tokens: list[str], acts: list[float], scale: float, focus: int | None = None) -> str:
    """Tokens as `<span>`s shaded by `act / scale` (the stylesheet's `.tok` reads the alpha from `--a`; a silent
    token carries none, which keeps a card's examples, thousands of spans, short to build and to send); hovering
    shows the token and its activation."""
    parts = []
    for i, (token, act) in enumerate(zip(tokens, acts, strict=True)):
        alpha = max(0.0, min(1.0, act / scale)) if scale > 0 else 0.0
        shade = f"--a:{alpha:.2f};" if alpha >= 0.005 else ""
        mark = " focus" if i == focus else ""
        style = f' style="{shade}"' if shade else ""
        title = html.escape(f"{token!r}: {act:.3f}", quote=True)
        parts.append(f'<span class="tok{mark}"{style} title="{title}">{token_text(token)}</span>')
    return '<div class="example">' + "".join(parts) + "</div>"


def continuation_html(prompt: str, continuation: str) -> str:
    """A prompt (muted) and the model's continuation of it, both escaped, line breaks kept."""

    def lines(text: str) -> str:
        return html.escape(text, quote=True).replace("\n", "<br>")

    return f'<div class="continuation"><span class="prompt">{lines(prompt)}</span>{lines(continuation)}</div>'


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$])")
"""Characters Streamlit's Markdown (GitHub-flavoured, with links, images and LaTeX) acts on."""
AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www|@)")
"""Where GitHub-flavoured Markdown starts a bare link: escaping does not stop it (measured in Chromium)."""
WORD_JOINER = "\u2060"
CODE_SPAN = re.compile(r"`([^`\n]+)`")
"""A code span: Markdown shows what is inside literally (no link, image, HTML or math)."""


@functools.lru_cache(maxsize=8)
def _server_folders(_settings: tuple[str | None, ...]) -> list[tuple[str, str]]:
    """Folders of this server and the names a visitor sees instead, longest first (so the data directory
    inside the home folder becomes `‹data›`, not `~/.cache/...`); cached per value of the settings that
    move them."""
    named = [(root, f"‹{root.name or 'allowed'}›") for root in allowed_roots()]
    named += [(data_dir(), "‹data›"), (Path(hub_constants.HF_HUB_CACHE), "‹hub cache›"), (PROJECT_ROOT, "‹app›")]
    named.append((Path.home(), "~"))
    pairs = {str(spelled): name for folder, name in named for spelled in {folder, folder.resolve()}}
    pairs.pop("/", None)
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def hide_paths(text: str) -> str:
    """`text` with every server folder replaced by what it is: no error, warning or table shows where this
    server keeps its files (SECURITY.md)."""
    if os.sep not in text:
        return text
    settings = tuple(os.environ.get(name) for name in (DATA_DIR_ENV, ALLOWED_ROOTS_ENV, "HF_HUB_CACHE", "HOME"))
    for folder, name in _server_folders(settings):
        text = text.replace(folder.rstrip(os.sep), name)
    return text


def md(text: object, limit: int = 300) -> str:
    """Untrusted text (URL parameters, labels, error messages quoting inputs) made inert for Markdown: every
    special character escaped, so `![x](https://...)` shows as typed instead of fetching an image, bare
    URLs and addresses kept from turning into links, and at most `limit` characters kept (with an
    ellipsis), so a 100 KB parameter is not echoed back. Server folders are named, not spelled out. A code span
    (`python -m backend build`) stays one: Markdown reads nothing inside it, so it shows the command as code."""
    value = hide_paths(str(text))
    if len(value) > limit:
        value = value[:limit] + "…"
    parts = CODE_SPAN.split(value)
    return "".join(f"`{part}`" if odd else _inert(part) for odd, part in zip(itertools.cycle((False, True)), parts))


def _inert(value: str) -> str:
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", value).replace("\n", " ")
    # An invisible word joiner inside each scheme, `www` and `@` breaks the bare-link patterns.
    return AUTOLINK.sub(lambda m: m.group(0)[:-1] + WORD_JOINER + m.group(0)[-1], escaped)
