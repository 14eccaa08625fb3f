"""Tiny random language models built from transformers configs, for fast tests of model-facing code."""

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from backend.models.formats import save_saelens
from backend.models.language import LanguageModel
from backend.models.sae import SAE, SAEConfig

VOCAB = 50


def tokenizer() -> PreTrainedTokenizerFast:
    """Words w0..w49, one token each; w1 is BOS and w2 EOS."""
    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(VOCAB)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="w1", eos_token="w2")


def tiny_llama(layers: int = 4, width: int = 16) -> LlamaForCausalLM:
    return LlamaForCausalLM(
        LlamaConfig(
            num_hidden_layers=layers,
            hidden_size=width,
            intermediate_size=2 * width,
            num_attention_heads=2,
            num_key_value_heads=2,
            vocab_size=VOCAB,
        )
    )


def tiny_lm(kind: str, seed: int = 0) -> LanguageModel:
    """A 4-block GPT-2 or Llama of width 16 with random weights."""
    torch.manual_seed(seed)
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_layer=4, n_embd=16, n_head=2, vocab_size=VOCAB, n_positions=32))
        return LanguageModel(model, tokenizer(), kind)
    return LanguageModel(tiny_llama(), tokenizer(), kind)


HOOK = "blocks.2.hook_resid_pre"
"""The hook the tiny worlds' SAEs read (the input of block 2 of 4)."""


def saelens_folder(root: Path, name: str, model: Path, d_sae: int, d_in: int = 16, hook: str = HOOK) -> Path:
    """A random SAE saved as a SAELens folder whose config names the model folder, the hook and 16-token contexts."""
    torch.manual_seed(d_sae)
    cfg = SAEConfig(d_in=d_in, d_sae=d_sae, hook_name=hook, model_name=f"local:{model}", context_size=16)
    sae = SAE(cfg, torch.device("cpu"))
    with torch.no_grad():
        for weights in (sae.W_enc, sae.W_dec, sae.b_dec):
            weights.normal_()
    save_saelens(sae, root / name)
    return root / name
