"""HTML for token sequences with per-token highlighting. Model text is untrusted: every token is escaped."""

import html
import re

HIGHLIGHT = "255, 140, 0"
"""RGB of the activation colour; the alpha channel carries the activation."""


def token_text(token: str) -> str:
    """A token as shown inline: escaped, newlines as a visible mark."""
    return html.escape(token, quote=True).replace("\n", "↵")


def highlighted_tokens(tokens: list[str], acts: list[float], scale: float, focus: int | None = None) -> str:
    """Tokens as `<span>`s shaded by `act / scale`; hovering shows the token and its activation."""
    parts = []
    for i, (token, act) in enumerate(zip(tokens, acts, strict=True)):
        alpha = max(0.0, min(1.0, act / scale)) if scale > 0 else 0.0
        style = f"background: rgba({HIGHLIGHT}, {alpha:.2f});"
        if i == focus:
            style += " border-bottom: 2px solid #c0392b;"
        title = html.escape(f"{token!r}: {act:.3f}", quote=True)
        parts.append(f'<span class="tok" style="{style}" title="{title}">{token_text(token)}</span>')
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


def md(text: object, limit: int = 300) -> str:
    """Untrusted text (URL parameters, labels, error messages quoting inputs) made inert for Markdown: every
    special character escaped, so `![x](https://...)` shows as typed instead of fetching an image, bare
    URLs and addresses kept from turning into links, and at most `limit` characters kept (with an
    ellipsis), so a 100 KB parameter is not echoed back."""
    value = str(text)
    if len(value) > limit:
        value = value[:limit] + "…"
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", value).replace("\n", " ")
    # An invisible word joiner inside each scheme, `www` and `@` breaks the bare-link patterns.
    return AUTOLINK.sub(lambda m: m.group(0)[:-1] + WORD_JOINER + m.group(0)[-1], escaped)
