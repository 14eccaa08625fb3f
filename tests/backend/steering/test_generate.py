"""Steering on tiny random models: strength 0 is the model's own generation, a direction moves the hook
by exactly that vector, clamping sets the latent, and the steered text changes."""

import pytest
import torch

from backend.core.errors import AtlasError
from backend.models.language import LanguageModel
from backend.models.sae import SAE, SAEConfig
from backend.steering.directions import Direction, latent_direction, meta_direction
from backend.steering.generate import SteerConfig, StreamEdit, steered_generation

HOOK = "blocks.2.hook_resid_pre"
PROMPT = torch.tensor([1, 5, 9, 14, 3])


def tiny_sae(d_in: int = 16, d_sae: int = 24, seed: int = 0) -> SAE:
    torch.manual_seed(seed)
    sae = SAE(SAEConfig(d_in=d_in, d_sae=d_sae), device=torch.device("cpu"))
    with torch.no_grad():
        sae.W_enc.normal_()
        sae.W_dec.normal_()
        sae.b_enc.normal_()
        sae.b_dec.normal_()
    return sae


def generate(lm: LanguageModel, direction: Direction, cfg: SteerConfig) -> tuple[list[int], list[int]]:
    steps = list(steered_generation(lm, HOOK, "hf", PROMPT, direction, cfg))
    return [s.steered for s in steps if s.steered is not None], [s.plain for s in steps if s.plain is not None]


def test_strength_zero_is_the_models_own_greedy_generation(lm: LanguageModel) -> None:
    direction = latent_direction(tiny_sae(), 3, max_act=5.0)
    steered, plain = generate(lm, direction, SteerConfig(strength=0.0, temperature=0.0, max_new_tokens=12))
    reference = lm.model.generate(PROMPT.unsqueeze(0), do_sample=False, max_new_tokens=12, min_new_tokens=12)
    assert steered == plain == reference[0, len(PROMPT) :].tolist()


def test_strength_zero_with_sampling_gives_identical_texts(lm: LanguageModel) -> None:
    direction = latent_direction(tiny_sae(), 3, max_act=5.0)
    steered, plain = generate(lm, direction, SteerConfig(strength=0.0, temperature=1.0, max_new_tokens=20, seed=4))
    assert steered == plain


def test_a_strong_direction_changes_the_text(lm: LanguageModel) -> None:
    direction = latent_direction(tiny_sae(), 3, max_act=5.0)
    steered, plain = generate(lm, direction, SteerConfig(strength=50.0, temperature=0.0, max_new_tokens=12))
    assert steered != plain


def test_adding_a_direction_moves_the_hook_by_exactly_that_vector(lm: LanguageModel) -> None:
    vector = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(2))
    tokens = PROMPT.unsqueeze(0).repeat(2, 1)
    clean = lm.activations(tokens, HOOK)
    edit = StreamEdit(Direction(vector=vector), SteerConfig(strength=1.5), batch=2)
    with lm.patched(HOOK, "hf", edit):
        steered = lm.activations(tokens, HOOK)
    expected = clean.clone()
    expected[0, 1:] += 1.5 * vector
    assert torch.equal(steered[1], clean[1])
    assert torch.equal(steered[:, 0], clean[:, 0])
    assert torch.allclose(steered, expected, atol=1e-6)


def test_clamping_swaps_the_latents_contribution(lm: LanguageModel) -> None:
    sae = tiny_sae()
    direction = latent_direction(sae, 7, max_act=4.0)
    tokens = PROMPT.unsqueeze(0).repeat(2, 1)
    clean = lm.activations(tokens, HOOK)
    with lm.patched(HOOK, "hf", StreamEdit(direction, SteerConfig(strength=2.0, clamp=True), batch=2)):
        steered = lm.activations(tokens, HOOK)
    # As the SAE sees it: the latent's own term a * W_dec[7] is replaced by (2 x 4) * W_dec[7].
    act = sae.encode(clean[0, 1:])[:, 7:8]
    expected = clean[0, 1:] + (8.0 - act) * sae.W_dec[7]
    assert torch.allclose(steered[0, 1:], expected, atol=1e-5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(AtlasError, match="strength"):
        SteerConfig(strength=1e6)
    with pytest.raises(AtlasError, match="tokens"):
        SteerConfig(max_new_tokens=0)
    with pytest.raises(AtlasError, match="never fired"):
        latent_direction(tiny_sae(), 1, max_act=0.0)
    meta = tiny_sae(d_in=16, d_sae=4)
    with pytest.raises(AtlasError, match="no scale"):
        meta_direction(meta, 0, tiny_sae(), members=[2], max_acts=torch.zeros(24))
    with pytest.raises(AtlasError, match="clamped"):
        StreamEdit(meta_direction(meta, 0, tiny_sae(), [2], torch.ones(24)), SteerConfig(clamp=True), batch=2)


def test_meta_direction_has_the_members_scale() -> None:
    sae, meta = tiny_sae(), tiny_sae(d_in=16, d_sae=4, seed=1)
    max_acts = torch.arange(24, dtype=torch.float32)
    direction = meta_direction(meta, 2, sae, members=[3, 5], max_acts=max_acts)
    mean_norm = float(sae.W_dec.detach()[[3, 5]].norm(dim=1).mean())
    assert direction.unit == pytest.approx(4.0)
    assert float(direction.vector.norm()) == pytest.approx(mean_norm * 4.0, rel=1e-5)
    assert torch.nn.functional.cosine_similarity(direction.vector, meta.W_dec[2].detach(), dim=0) > 0.999
