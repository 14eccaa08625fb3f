"""Hook and convention logic on a tiny random GPT-2 and Llama built from configs."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from backend.core.errors import AtlasError
from backend.models.geometry import direction_lens
from backend.models.language import HookPoint, LanguageModel, apply_convention
from tests.backend.tiny_models import VOCAB, tokenizer

TOKENS = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("layer", [0, 2, 3])
def test_resid_pre_equals_hidden_states_and_stops_early(lm: LanguageModel, layer: int) -> None:
    full = lm.model(TOKENS, output_hidden_states=True).hidden_states
    ours = lm.activations(TOKENS, f"blocks.{layer}.hook_resid_pre")
    assert torch.allclose(ours, full[layer], atol=1e-5)


def test_resid_post_is_next_resid_pre(lm: LanguageModel) -> None:
    full = lm.model(TOKENS, output_hidden_states=True).hidden_states
    assert torch.allclose(lm.activations(TOKENS, "blocks.1.hook_resid_post"), full[2], atol=1e-5)


def test_transformer_lens_convention_is_centred(lm: LanguageModel) -> None:
    raw = lm.activations(TOKENS, "blocks.2.hook_resid_pre")
    centred = lm.activations(TOKENS, "blocks.2.hook_resid_pre", convention="transformer_lens")
    assert torch.allclose(centred, raw - raw.mean(dim=-1, keepdim=True), atol=1e-6)
    assert torch.allclose(centred.mean(dim=-1), torch.zeros(2, 7), atol=1e-5)


def test_later_blocks_do_not_run(lm: LanguageModel) -> None:
    ran = []
    handle = lm.layers[3].register_forward_hook(lambda *_: ran.append(True))
    lm.activations(TOKENS, "blocks.1.hook_resid_pre")
    handle.remove()
    assert not ran


def test_several_hooks_in_one_pass_equal_each_alone_and_stop_after_the_deepest(lm: LanguageModel) -> None:
    ran = []
    handle = lm.layers[3].register_forward_hook(lambda *_: ran.append(True))
    hooks = ["blocks.2.hook_resid_pre", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post"]
    together = lm.activations_at(TOKENS, hooks)
    handle.remove()
    assert not ran and list(together) == hooks
    for hook in hooks:
        assert torch.equal(together[hook], lm.activations(TOKENS, hook))


def test_bad_hooks_are_clear_errors(lm: LanguageModel) -> None:
    with pytest.raises(AtlasError, match="Unsupported hook"):
        HookPoint.parse("blocks.1.attn.hook_z")
    with pytest.raises(AtlasError, match="no block 9"):
        lm.activations(TOKENS, "blocks.9.hook_resid_pre")
    with pytest.raises(AtlasError, match="Unknown convention"):
        apply_convention(torch.zeros(2), "other")


def test_tokenize_prepends_bos(lm: LanguageModel) -> None:
    assert lm.tokenize("w5 w6").tolist() == [1, 5, 6]


@pytest.mark.parametrize("hook", ["blocks.2.hook_resid_pre", "blocks.1.hook_resid_post"])
@pytest.mark.parametrize("convention", ["hf", "transformer_lens"])
def test_splicing_the_activations_back_in_leaves_the_loss_unchanged(
    lm: LanguageModel, hook: str, convention: str
) -> None:
    clean = lm.next_token_loss(TOKENS, hook, convention)
    same = lm.next_token_loss(TOKENS, hook, convention, replace=lambda acts: acts.clone())
    zeroed = lm.next_token_loss(TOKENS, hook, convention, replace=torch.zeros_like)
    assert clean.shape == (2, 6)
    assert torch.allclose(clean, same, atol=1e-5)
    assert not torch.allclose(clean, zeroed, atol=1e-3)


def test_splicing_sees_the_activations_the_sae_reads(lm: LanguageModel) -> None:
    seen: list[torch.Tensor] = []
    lm.next_token_loss(TOKENS, "blocks.2.hook_resid_pre", "transformer_lens", replace=lambda a: seen.append(a) or a)
    assert torch.allclose(seen[0], lm.activations(TOKENS, "blocks.2.hook_resid_pre", "transformer_lens"), atol=1e-5)


def test_the_logit_lens_reads_only_the_tokenizers_rows_of_a_padded_embedding() -> None:
    """Models often pad their embedding past the tokenizer (to a multiple of 64): padded rows name no token."""
    torch.manual_seed(0)
    padded = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=VOCAB + 14, n_positions=32))
    lm = LanguageModel(padded, tokenizer(), "padded")
    assert lm.unembedding().shape == (VOCAB, 16)
    assert len(lm.vocab_strings()) == VOCAB


def test_a_directions_lens_folds_the_final_norms_gain_into_the_direction(lm: LanguageModel) -> None:
    """direction_lens scales the direction by the gain instead of copying the unembedding: same tokens, same logits."""
    norm = lm.model.transformer.ln_f if hasattr(lm.model, "transformer") else lm.model.model.norm
    width = lm.model.config.hidden_size
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.2, 3.0, width))
    direction = torch.randn(width, generator=torch.Generator().manual_seed(3))
    lens = direction_lens(direction, lm, n=5)
    logits = lm.unembedding() @ direction
    top = logits.topk(5)
    assert lens.promoted == lm.token_strings(top.indices.tolist())
    assert lens.promoted_logits == pytest.approx(top.values.tolist(), abs=1e-5)
