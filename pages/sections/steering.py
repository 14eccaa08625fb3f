"""The steering section of the latent and meta-latent cards: a prompt, a strength, two continuations streamed
side by side (rendering only; the generation is backend/steering)."""

from collections.abc import Callable

import streamlit as st

from backend.core.errors import AtlasError
from backend.steering.directions import Direction
from backend.steering.generate import SteerConfig, steered_generation
from backend.web.render import continuation_html, md
from backend.web.urlstate import MAX_PROMPT, View
from pages.access.saes import language_model
from pages.access.state import catalog

DEFAULT_PROMPT = "My favourite thing to talk about is"
DEFAULT_STRENGTH = 2.0
SLIDER_LIMIT = 20.0
RESULTS = "steering-results"
"""Session-state key: finished continuations by their settings, so a rerun shows them again."""


@st.fragment
def steering_section(view: View, subject: str, unit: str, direction: Callable[[], Direction], can_clamp: bool) -> None:
    """Steering with `subject` (e.g. "latent 12"), whose strength is in units of `unit`; `direction` is
    only called when the user generates. A fragment: generating reruns this section, not the card."""
    with st.expander(f"Steer the model with {subject}", expanded=bool(view.prompt)):
        settings = _form(view, unit, can_clamp, subject.split()[0])
        if settings is None:
            _show_stored(view, subject)
            return
        prompt, cfg = settings
        st.query_params.from_dict(view.params(prompt=prompt, strength=cfg.strength, clamp=cfg.clamp or None))
        try:
            _stream(view, prompt, cfg, direction(), subject)
        except AtlasError as err:
            st.error(f"{md(err)} Change the settings above and generate again.")


def _form(view: View, unit: str, can_clamp: bool, key: str) -> tuple[str, SteerConfig] | None:
    """The settings, or None until Generate is pressed."""
    with st.form(f"steer-{key}"):
        prompt = st.text_area("Prompt", value=view.prompt or DEFAULT_PROMPT, max_chars=MAX_PROMPT, height=68)
        strength = st.slider(
            f"Strength (× {unit})",
            -SLIDER_LIMIT,
            SLIDER_LIMIT,
            float(min(max(view.strength if view.strength is not None else DEFAULT_STRENGTH, -20), 20)),
            step=0.5,
            help="Added to the residual stream at the SAE's hook on every token after BOS. Negative pushes away.",
        )
        clamp = st.checkbox(
            "Clamp the latent to this value instead of adding",
            value=view.clamp and can_clamp,
            disabled=not can_clamp,
            help="Replaces the latent's own contribution wherever it reads the stream (0 ablates it).",
        )
        tokens = st.slider("New tokens", 10, 100, 40, step=10)
        pressed = st.form_submit_button("Generate")
    if not pressed:
        return None
    if not prompt.strip():
        st.error("Type a prompt for the model to continue, then press Generate.")
        return None
    return prompt, SteerConfig(strength=strength, clamp=clamp and can_clamp, max_new_tokens=tokens)


def _stream(view: View, prompt: str, cfg: SteerConfig, direction: Direction, subject: str) -> None:
    release = catalog()[view.release]
    lm = language_model(release.model)
    left, right = st.columns(2)
    mode = "clamped to" if cfg.clamp else "strength"
    left.markdown(f"**Steered** ({mode} {cfg.strength:g})")
    right.markdown("**Unsteered**")
    boxes = left.empty(), right.empty()
    ids: tuple[list[int], list[int]] = ([], [])
    texts = ["", ""]
    for step in steered_generation(lm, release.hook, release.convention, lm.tokenize(prompt), direction, cfg):
        for side, token in enumerate((step.steered, step.plain)):
            if token is not None:
                ids[side].append(token)
                texts[side] = lm.decode(ids[side])
                boxes[side].html(continuation_html(prompt, texts[side]))
    key = _settings_key(view, subject, prompt, cfg.strength, cfg.clamp)
    st.session_state.setdefault(RESULTS, {})[key] = (prompt, cfg, texts[0], texts[1])
    st.caption(_sampling_note(cfg))


def _show_stored(view: View, subject: str) -> None:
    strength = view.strength if view.strength is not None else DEFAULT_STRENGTH
    stored = st.session_state.get(RESULTS, {}).get(_settings_key(view, subject, view.prompt, strength, view.clamp))
    if stored is None:
        if view.prompt:
            st.caption("Press Generate to see the continuations for this prompt and strength.")
        return
    prompt, cfg, steered, plain = stored
    left, right = st.columns(2)
    left.markdown(f"**Steered** ({'clamped to' if cfg.clamp else 'strength'} {cfg.strength:g})")
    left.html(continuation_html(prompt, steered))
    right.markdown("**Unsteered**")
    right.html(continuation_html(prompt, plain))
    st.caption(_sampling_note(cfg))


def _settings_key(view: View, subject: str, prompt: str, strength: float, clamp: bool) -> str:
    return f"{view.release}/{view.sae}/{subject}/{prompt}/{strength:g}/{clamp}"


def _sampling_note(cfg: SteerConfig) -> str:
    return (
        f"Both sampled at temperature {cfg.temperature} with seed {cfg.seed}, one generator each: "
        "at strength 0 they are identical, so every difference comes from the direction."
    )
