"""AppTest for the card sections that steer the model and draw a latent's lineage (tiny release)."""

import pytest
from streamlit.testing.v1 import AppTest

from pages.sections.steering import RESULTS
from tests.pages.test_app import no_crash, run


def generate(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Generate").click().run()
    no_crash(at)
    return at


def continuations(at: AppTest) -> list[str]:
    return [str(e.proto.body) for e in at.get("html") if str(e.proto.body).startswith('<div class="continuation"')]


def test_the_prompt_and_strength_come_from_the_url(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4", prompt="The river bank", strength="-3.5")
    no_crash(at)
    assert at.text_area[0].value == "The river bank"
    assert next(s for s in at.slider if s.label.startswith("Strength")).value == -3.5
    assert any("Press Generate" in c.value for c in at.caption)


def test_generate_streams_both_texts_and_writes_the_settings_into_the_url(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4", prompt="The river bank", strength="6")
    generate(at)
    shown = continuations(at)
    assert len(shown) == 2 and all("The river bank" in text for text in shown)
    assert at.query_params["prompt"] == "The river bank"
    assert float(at.query_params["strength"]) == 6.0
    (_prompt, _cfg, steered, plain), *_ = at.session_state[RESULTS].values()
    assert steered and plain


def test_strength_zero_gives_the_same_text_twice(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4", prompt="A dog is", strength="0")
    generate(at)
    (_prompt, _cfg, steered, plain), *_ = at.session_state[RESULTS].values()
    assert steered == plain != ""


def test_a_meta_latent_steers_but_cannot_be_clamped(tiny_release: str) -> None:
    at = run("meta", release=tiny_release, sae="128", m="3", prompt="A dog is", strength="4", clamp="1")
    no_crash(at)
    box = next(c for c in at.checkbox if c.label.startswith("Clamp"))
    assert box.disabled and not box.value
    generate(at)
    assert len(continuations(at)) == 2


def test_a_strength_out_of_range_is_ignored_with_a_warning(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4", strength="1e9")
    no_crash(at)
    assert any("steering strength" in w.value for w in at.warning)
    assert "strength" not in at.query_params


def test_the_lineage_is_drawn_and_its_threshold_lives_in_the_url(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4")
    no_crash(at)
    assert "Lineage across sizes" in [s.value for s in at.subheader]
    slider = next(s for s in at.slider if s.label == "Decoder cosine at least")
    slider.set_value(0.55).run()
    no_crash(at)
    assert float(at.query_params["st"]) == pytest.approx(0.55)
    assert any("Decoder cosine threshold 0.55" in c.value for c in at.caption), "the badges read the new threshold"


def test_the_closest_latents_of_every_smaller_sae_show_when_asked(tiny_release: str) -> None:
    at = run("latent", release=tiny_release, sae="128", latent="4")
    no_crash(at)
    toggle = next(t for t in at.toggle if t.label.startswith("Closest latents in every smaller SAE"))
    assert not any(link.proto.label.startswith("SAE-64 #") and "`" in link.proto.label for link in at.get("page_link"))
    toggle.set_value(True).run()
    no_crash(at)
    labels = [link.proto.label for link in at.get("page_link") if link.proto.label.startswith("SAE-64 #")]
    assert len([label for label in labels if label.endswith("`")]) >= 3, labels
