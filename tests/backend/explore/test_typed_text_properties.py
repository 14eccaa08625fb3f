"""Property test: any typed text (search by text, the steering prompt) runs through a tiny model and an SAE
without error, one row of latent activations per token (EXAMPLES)."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.explore.search import encode_text
from backend.sources.catalog import parse_release
from tests.backend.steering.test_generate import tiny_sae
from tests.backend.tiny_models import tiny_lm

EXAMPLES = 100
RELEASE = parse_release(
    "typed", {"model": "x", "hook": "blocks.2.hook_resid_pre", "saes": [{"id": "a", "d_sae": 24}], "context_size": 64}
)
LM = tiny_lm("llama")
SAE = tiny_sae()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=200))
def test_any_typed_text_encodes(text: str) -> None:
    result = encode_text(LM, SAE, RELEASE, text)
    assert result.acts.shape == (len(result.tokens), SAE.cfg.d_sae)
    assert torch.isfinite(result.acts).all()
