"""Index build: our one-pass build against its floor and against a per-feature-batch baseline.

    .venv/bin/python benchmarks/bench_index.py [--contexts 48] [--d-sae 4608]

Same model (embedded SmolLM2), same SAE, same tokens for all three, measured in one run:
- floor: the model forward to the hook plus the SAE encode of every token, nothing else;
- ours: backend/index.py's pass (model once per token batch, all latents folded into running state);
- baseline: what SAEDashboard does (sae-dashboard cannot be installed next to the pinned torch: it
  pulls CUDA wheels), faithfully: for every batch of 256 features, rerun the model over all token
  batches (64 contexts each), keep the dense [contexts, seq, features] activations, then take
  top-k, counts and histograms from them.
Peak memory of our pass is measured in subprocesses at two token counts.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.data.corpus import pack_contexts, wordnet_texts
from backend.index.build import IndexConfig, run_pass
from backend.index.state import HIST_EDGES, TOP_K
from backend.models.language import LanguageModel, load_language_model
from backend.models.sae import SAE, SAEConfig

HOOK = "blocks.8.hook_resid_pre"
FEATURE_BATCH, TOKEN_BATCH = 256, 64
BATCH_CONTEXTS = 32


def calibrated_sae(lm: LanguageModel, tokens: torch.Tensor, d_sae: int, l0: int = 32) -> SAE:
    """A random JumpReLU SAE whose thresholds give about `l0` active latents per token."""
    gen = torch.Generator().manual_seed(0)
    sae = SAE(SAEConfig(d_in=lm.d_model, d_sae=d_sae, architecture="jumprelu"), device=torch.device("cpu"))
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(torch.randn(d_sae, lm.d_model, generator=gen), dim=1))
        sae.W_enc.copy_(sae.W_dec.T)
        sample = lm.activations(tokens[:4], HOOK, autocast=True).reshape(-1, lm.d_model)
        pre = sae.pre_acts(sample)
        sae.threshold.copy_(pre.quantile(1 - l0 / d_sae, dim=0))
    return sae


def floor(lm: LanguageModel, sae: SAE, tokens: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(tokens), BATCH_CONTEXTS):
            sae.encode(lm.activations(tokens[i : i + BATCH_CONTEXTS], HOOK, autocast=True))
    return time.perf_counter() - start


def ours(lm: LanguageModel, sae: SAE, tokens: torch.Tensor) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        run_pass(
            sae,
            tokens,
            lambda _s, batch: lm.activations(batch, HOOK, autocast=True),
            IndexConfig(batch_contexts=BATCH_CONTEXTS, checkpoint_every=10**9, bos_id=lm.bos_id),
            Path(work),
            {"bench": True},
        )
    return time.perf_counter() - start


def baseline(lm: LanguageModel, sae: SAE, tokens: torch.Tensor) -> float:
    start = time.perf_counter()
    edges = HIST_EDGES.float()
    with torch.no_grad():
        for f0 in range(0, sae.cfg.d_sae, FEATURE_BATCH):
            cols = slice(f0, f0 + FEATURE_BATCH)
            dense = []
            for i in range(0, len(tokens), TOKEN_BATCH):
                hidden = lm.activations(tokens[i : i + TOKEN_BATCH], HOOK, autocast=True)
                pre = (hidden - sae.b_dec) @ sae.W_enc[:, cols] + sae.b_enc[cols]
                dense.append(pre * (pre > sae.threshold[cols]))
            acts = torch.cat(dense).flatten(0, 1)  # [contexts * seq, features], dense
            acts.topk(TOP_K, dim=0)
            (acts > 0).sum(dim=0)
            for f in range(acts.shape[1]):
                column = acts[:, f]
                torch.histc(column[column > 0], bins=len(edges) - 1)
    return time.perf_counter() - start


def peak_memory_mb(n_contexts: int, d_sae: int) -> float:
    """Peak RSS of our pass alone over `n_contexts`, in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory-probe", str(n_contexts), "--d-sae", str(d_sae)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"])


def setup(n_contexts: int, d_sae: int) -> tuple[LanguageModel, SAE, torch.Tensor]:
    torch.manual_seed(0)
    lm = load_language_model("embedded:smollm2-135m-instruct", torch.device("cpu"))
    tokens = pack_contexts(wordnet_texts(), lm.tokenizer, lm.bos_id, 128, n_contexts)
    return lm, calibrated_sae(lm, tokens, d_sae), tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contexts", type=int, default=48)
    parser.add_argument("--d-sae", type=int, default=4608)
    parser.add_argument("--memory-probe", type=int, default=0)
    args = parser.parse_args()
    if args.memory_probe:
        lm, sae, tokens = setup(args.memory_probe, args.d_sae)
        ours(lm, sae, tokens)
        print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    lm, sae, tokens = setup(args.contexts, args.d_sae)
    n_tokens = tokens.numel()
    floor(lm, sae, tokens[:BATCH_CONTEXTS])  # warm-up
    t_floor, t_ours, t_base = floor(lm, sae, tokens), ours(lm, sae, tokens), baseline(lm, sae, tokens)
    print(f"tokens={n_tokens} d_sae={args.d_sae} torch threads={torch.get_num_threads()}")
    print(f"floor (forward + encode): {t_floor:7.2f} s  {n_tokens / t_floor:8.0f} tokens/s")
    print(f"ours (one pass)         : {t_ours:7.2f} s  {n_tokens / t_ours:8.0f} tokens/s")
    print(f"baseline (per features) : {t_base:7.2f} s  {n_tokens / t_base:8.0f} tokens/s")
    print(f"ours / floor            : {t_ours / t_floor:.2f}x  (target <= 1.25)")
    print(f"baseline / ours         : {t_base / t_ours:.1f}x  (target >= 10)")
    small, large = args.contexts, 4 * args.contexts
    print(f"peak RSS of our pass    : {peak_memory_mb(small, args.d_sae):.0f} MB at {small * 128} tokens, "
          f"{peak_memory_mb(large, args.d_sae):.0f} MB at {large * 128} tokens")  # fmt: skip


if __name__ == "__main__":
    main()
