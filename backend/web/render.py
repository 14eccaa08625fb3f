"""HTML for token sequences with per-token highlighting. Model text is untrusted: every token is escaped."""

import html

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
