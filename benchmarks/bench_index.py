"""Index build: our one-pass build against its floor (and, at the small shape, against a per-feature-batch
baseline), measured side by side in one run.

    .venv/bin/python benchmarks/bench_index.py                      # embedded SmolLM2, 4,608 latents, bf16
    .venv/bin/python benchmarks/bench_index.py --shape gpt2         # GPT-2 shape, 24,576 latents, fp32
    .venv/bin/python benchmarks/bench_index.py --shape gpt2 --contexts 256 --profile
    .venv/bin/python benchmarks/bench_index.py --shape gpt2 --whole [--precision bf16]
    .venv/bin/python benchmarks/bench_index.py --shape gpt2 --contexts 128 --syncs

- floor: the model forward to the hook plus the SAE encode of every token (in the pass's chunks), nothing else;
- ours: backend/index/build.py's pass (model once per token batch, all latents folded into running state);
- baseline (small shape only: it reruns the model per 256 features): what SAEDashboard does (sae-dashboard
  cannot be installed next to the pinned torch: it pulls CUDA wheels), faithfully: for every batch of 256
  features, rerun the model over all token batches (64 contexts each), keep the dense [contexts, seq,
  features] activations, then take top-k, counts and histograms from them.
- whole (`--whole`): the command a user runs, timed from outside: the model, SAE and tokens written to disk
  (a `local:` model folder, a SAELens folder, a .npy token file), `python -m backend add` to register them (on
  32 contexts), then `python -m backend index --tokens ... --positions 6:123 --top-k 20 --contexts N`
  (SAEDashboard's settings) in a fresh process: interpreter start, model and SAE load, pass, finalise, write.
  Floor, command, floor again in one run.
Peak RSS of the floor and of our pass is measured in fresh subprocesses (at two token counts for ours), as
the resident high-water mark during the pass alone (reset after the model and SAE are built).
The GPT-2 shape is a randomly initialised GPT-2 (d_model 768, 12 blocks, vocab 50,257) read before block 8
over random tokens, with a random JumpReLU SAE calibrated to L0 ~ 32: the cost of every step depends on
the shapes and the sparsity, not on what the weights learned.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.index.build import CUDA_ENCODE_ELEMENTS, encode_elements, run_pass
from backend.index.plan import IndexConfig
from backend.index.state import HIST_EDGES, TOP_K
from backend.models.language import LanguageModel
from backend.models.sae import SAE, SAEConfig

FEATURE_BATCH, TOKEN_BATCH = 256, 64
BATCH_CONTEXTS = 32
SEQ = 128
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Shape:
    hook: str
    d_sae: int
    contexts: int
    precision: str
    baseline: bool


SHAPES = {
    "embedded": Shape("blocks.8.hook_resid_pre", 4608, 48, "bf16", baseline=True),
    "gpt2": Shape("blocks.8.hook_resid_pre", 24576, 2048, "fp32", baseline=False),
}


def sync() -> None:
    """Wait for queued GPU work, so that a timer reads the work done (a no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def language_model(shape: str, device: torch.device) -> LanguageModel:
    torch.manual_seed(0)
    if shape == "gpt2":
        from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

        from backend.models.embedded import embedded_model_dir

        # Any tokenizer serves: the tokens are random ids; only its BOS id is read.
        tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir("smollm2-135m-instruct"))
        config = GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
        return LanguageModel(GPT2LMHeadModel(config).eval().to(device), tokenizer, "gpt2-shape")
    from backend.models.language import load_language_model

    return load_language_model("embedded:smollm2-135m-instruct", device)


def corpus(lm: LanguageModel, shape: str, n_contexts: int) -> torch.Tensor:
    if shape == "gpt2":
        # Ids the tokenizer knows, so that the token file passes the command's check (the cost is the same).
        return torch.randint(0, len(lm.tokenizer), (n_contexts, SEQ), generator=torch.Generator().manual_seed(0))
    from backend.data.corpus import pack_contexts, wordnet_texts

    return pack_contexts(wordnet_texts(), lm.tokenizer, lm.bos_id, SEQ, n_contexts)


def calibrated_sae(lm: LanguageModel, tokens: torch.Tensor, shape: Shape, l0: int = 32) -> SAE:
    """A random JumpReLU SAE whose thresholds give about `l0` active latents per token."""
    gen = torch.Generator().manual_seed(0)
    sae = SAE(SAEConfig(d_in=lm.d_model, d_sae=shape.d_sae, architecture="jumprelu"), device=lm.device)
    with torch.no_grad():
        rows = torch.randn(shape.d_sae, lm.d_model, generator=gen).to(lm.device)
        sae.W_dec.copy_(torch.nn.functional.normalize(rows, dim=1))
        sae.W_enc.copy_(sae.W_dec.T)
        sample = lm.activations(tokens[:4], shape.hook).reshape(-1, lm.d_model)
        pre = sae.pre_acts(sample)
        sae.threshold.copy_(pre.quantile(1 - l0 / shape.d_sae, dim=0))
    return sae


def activation_fn(lm: LanguageModel, shape: Shape) -> Callable[[int, torch.Tensor], torch.Tensor]:
    return lambda _start, batch: lm.activations(batch, shape.hook, autocast=shape.precision == "bf16")


def floor(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape) -> float:
    acts = activation_fn(lm, shape)
    # Encoded in the pass's chunks: a whole batch's [32, 128, d_sae] at once is slower (memory), not a floor.
    step = max(1, encode_elements(sae.device) // (tokens.shape[1] * shape.d_sae))
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(tokens), BATCH_CONTEXTS):
            hidden = acts(i, tokens[i : i + BATCH_CONTEXTS])
            for j in range(0, len(hidden), step):
                sae.encode(hidden[j : j + step])
    sync()
    return time.perf_counter() - start


def ours(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        run_pass(
            sae,
            tokens,
            activation_fn(lm, shape),
            IndexConfig(batch_contexts=BATCH_CONTEXTS, checkpoint_every=10**9, bos_id=lm.bos_id),
            Path(work),
            {"bench": True},
        )
    sync()
    return time.perf_counter() - start


def baseline(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape) -> float:
    acts = activation_fn(lm, shape)
    start = time.perf_counter()
    edges = HIST_EDGES.float()
    with torch.no_grad():
        for f0 in range(0, sae.cfg.d_sae, FEATURE_BATCH):
            cols = slice(f0, f0 + FEATURE_BATCH)
            dense = []
            for i in range(0, len(tokens), TOKEN_BATCH):
                hidden = acts(i, tokens[i : i + TOKEN_BATCH])
                pre = (hidden - sae.b_dec) @ sae.W_enc[:, cols] + sae.b_enc[cols]
                dense.append(pre * (pre > sae.threshold[cols]))
            activations = torch.cat(dense).flatten(0, 1)  # [contexts * seq, features], dense
            activations.topk(TOP_K, dim=0)
            (activations > 0).sum(dim=0)
            for f in range(activations.shape[1]):
                column = activations[:, f]
                torch.histc(column[column > 0], bins=len(edges) - 1)
    return time.perf_counter() - start


def write_inputs(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape, folder: Path) -> None:
    """The model, SAE and tokens as a user hands them to the command: a model folder, a SAELens folder, a .npy."""
    import numpy as np

    from backend.models.formats import save_saelens

    lm.model.save_pretrained(folder / "model")
    lm.tokenizer.save_pretrained(folder / "model")
    sae.cfg = replace(sae.cfg, hook_name=shape.hook, model_name=f"local:{folder / 'model'}", context_size=SEQ)
    save_saelens(sae, folder / "sae")
    np.save(folder / "tokens.npy", tokens.numpy())


def backend_run(folder: Path, *args: str) -> tuple[float, float]:
    """Seconds `python -m backend ARGS` takes in a fresh process, its data directory inside `folder`, and the
    process's peak resident memory in MB (the kernel's own count, read when it ends)."""
    env = {**os.environ, "ATLAS_DATA_DIR": str(folder / "data")}
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, "-m", "backend", *args], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        said, failed = out.read().strip(), err.read()
    if process.returncode < 0:  # its stderr says nothing: the kernel's out-of-memory killer sends SIGKILL
        sys.exit(
            f"python -m backend {args[0]} was killed by signal {-process.returncode} at {usage.ru_maxrss // 1024} MB"
        )
    if process.returncode != 0:
        sys.exit(f"python -m backend {args[0]} failed:\n{failed[-2000:]}")
    print(said.splitlines()[-1] if said else "", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024


def backend_command(folder: Path, *args: str) -> float:
    """Seconds `python -m backend ARGS` takes in a fresh process, its data directory inside `folder`."""
    return backend_run(folder, *args)[0]


def whole_command(folder: Path, n_contexts: int, shape: Shape) -> float:
    """The `index` command at SAEDashboard's settings, whole (the release registered by `add` beforehand)."""
    tokens = str(folder / "tokens.npy")
    if not (folder / "data").exists():
        backend_command(folder, "add", "--id", "bench", "--sae", str(folder / "sae"), "--model",
                        f"local:{folder / 'model'}", "--hook", shape.hook, "--convention", "hf",
                        "--context-size", str(SEQ), "--tokens", tokens, "--contexts", str(BATCH_CONTEXTS))  # fmt: skip
    return backend_command(folder, "index", "--release", "bench", "--sae", str(shape.d_sae), "--tokens", tokens,
                           "--positions", "6:123", "--top-k", "20", "--contexts", str(n_contexts),
                           "--precision", shape.precision)  # fmt: skip


def setup(
    shape_name: str, n_contexts: int, device: torch.device | None = None
) -> tuple[LanguageModel, SAE, torch.Tensor, Shape]:
    shape = SHAPES[shape_name]
    lm = language_model(shape_name, device or torch.device("cpu"))
    tokens = corpus(lm, shape_name, n_contexts)
    return lm, calibrated_sae(lm, tokens, shape), tokens, shape


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def peak_memory_mb(shape: str, job: str, n_contexts: int, precision: str) -> float:
    """Peak RSS of `job` (floor or ours) alone over `n_contexts`, in a fresh process."""
    command = [sys.executable, __file__, "--shape", shape, "--memory-probe", job, "--contexts", str(n_contexts)]
    command += ["--precision", precision]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"])


def profile(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        ours(lm, sae, tokens, shape)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


SYNCING = {
    "aten.nonzero.default",
    "aten._local_scalar_dense.default",
    "aten.unique_consecutive.default",
    "aten._unique2.default",
    "aten.masked_select.default",
    "aten.bincount.default",
    "aten.repeat_interleave.Tensor",
}
"""Operations that make the host wait for a CUDA device: the size of their output depends on the data (nonzero,
unique, masked_select; bincount reads the largest value), or they return a Python number (item, int, bool)."""
BOOL_INDEXED = {"aten.index.Tensor", "aten.index_put_.default", "aten.index_put.default"}
"""Indexing with a boolean mask: a nonzero inside, so a wait on the host too."""


def syncs(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape) -> None:
    """The host synchronisations a GPU would make in the pass's bookkeeping (`fold_batch`: encode, mask, fold into
    the state), counted by operation on any device, per batch of BATCH_CONTEXTS contexts; the model forward is the
    floor's and is left out."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    from backend.index.build import fold_batch
    from backend.index.state import IndexState

    class Counted(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.counts: Counter[str] = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)
            masked = name in BOOL_INDEXED and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or ())
            )
            if name in SYNCING or masked:
                self.counts[name + (" (boolean mask)" if masked else "")] += 1
            return func(*args, **(kwargs or {}))

    cfg = IndexConfig(batch_contexts=BATCH_CONTEXTS, bos_id=lm.bos_id)
    batches = range(0, len(tokens), BATCH_CONTEXTS)
    acts = activation_fn(lm, shape)
    print(f"shape={shape.hook} d_sae={shape.d_sae} batches={len(batches)} of {BATCH_CONTEXTS} contexts")
    # A tensor's `tolist` reads CPU memory without an operation the mode sees; from a GPU it is a copy and a wait,
    # unless it reads pinned memory the device has already written (`_read_later` in the state).
    tolist = torch.Tensor.tolist
    for chunks, elements in (("this device's", encode_elements(sae.device)), ("a GPU's", CUDA_ENCODE_ELEMENTS)):
        state = IndexState.empty(shape.d_sae, sae.device)
        counter = Counted()

        def counted_tolist(tensor: torch.Tensor, counts: Counter[str] = counter.counts) -> object:
            counts["Tensor.tolist"] += 1
            return tolist(tensor)

        torch.Tensor.tolist = counted_tolist  # type: ignore[method-assign,assignment]
        try:
            for start in batches:
                batch = tokens[start : start + BATCH_CONTEXTS]
                hidden = acts(start, batch)
                with counter:
                    fold_batch(state, sae, batch, hidden, start, cfg, elements)
        finally:
            torch.Tensor.tolist = tolist  # type: ignore[method-assign]
        total = sum(counter.counts.values())
        contexts = max(1, elements // (tokens.shape[1] * shape.d_sae))
        print(f"host synchronisations per batch in the bookkeeping, in {chunks} chunks of {contexts} contexts: "
              f"{total / len(batches):.1f}")  # fmt: skip
        for name, count in counter.counts.most_common():
            print(f"  {name}: {count / len(batches):.1f}")


def print_whole(lm: LanguageModel, sae: SAE, tokens: torch.Tensor, shape: Shape, name: str) -> None:
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        write_inputs(lm, sae, tokens, shape, folder)
        t_floor = floor(lm, sae, tokens, shape)
        t_whole = whole_command(folder, len(tokens), shape)
        t_floor_again = floor(lm, sae, tokens, shape)
    print(
        f"shape={name} tokens={tokens.numel()} d_sae={shape.d_sae} {shape.precision} threads={torch.get_num_threads()}"
    )
    print(f"floor (forward + encode)  : {t_floor:7.2f} s, again {t_floor_again:7.2f} s")
    print(f"index command, whole      : {t_whole:7.2f} s")
    print(f"whole / floor             : {t_whole / t_floor:.2f}x, {t_whole / t_floor_again:.2f}x  (target <= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), default="embedded")
    parser.add_argument("--contexts", type=int, help="contexts of 128 tokens (default: the shape's)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], help="default: the shape's")
    parser.add_argument("--memory-probe", choices=["floor", "ours"])
    parser.add_argument("--profile", action="store_true", help="print where our pass spends its time")
    parser.add_argument("--whole", action="store_true", help="time the index command itself against the floor")
    parser.add_argument("--syncs", action="store_true", help="count the pass's host synchronisations per batch")
    args = parser.parse_args()
    n_contexts = args.contexts or SHAPES[args.shape].contexts
    lm, sae, tokens, shape = setup(args.shape, n_contexts)
    shape = replace(shape, precision=args.precision or shape.precision)
    if args.memory_probe:
        # Reset the peak so that it is the pass's, not the model construction's (Linux: VmHWM).
        Path("/proc/self/clear_refs").write_text("5")
        (floor if args.memory_probe == "floor" else ours)(lm, sae, tokens, shape)
        print(json.dumps({"peak_mb": peak_rss_mb()}))
        return
    if args.profile:
        profile(lm, sae, tokens, shape)
        return
    if args.syncs:
        syncs(lm, sae, tokens, shape)
        return
    n_tokens = tokens.numel()
    floor(lm, sae, tokens[:BATCH_CONTEXTS], shape)  # warm-up
    if args.whole:
        print_whole(lm, sae, tokens, shape, args.shape)
        return
    t_floor, t_ours = floor(lm, sae, tokens, shape), ours(lm, sae, tokens, shape)
    t_floor_again = floor(lm, sae, tokens, shape)
    print(
        f"shape={args.shape} tokens={n_tokens} d_sae={shape.d_sae} {shape.precision} threads={torch.get_num_threads()}"
    )
    print(
        f"floor (forward + encode): {t_floor:7.2f} s, again {t_floor_again:7.2f} s  {n_tokens / t_floor:8.0f} tokens/s"
    )
    print(f"ours (one pass)         : {t_ours:7.2f} s  {n_tokens / t_ours:8.0f} tokens/s")
    print(f"ours / floor            : {t_ours / t_floor:.2f}x, {t_ours / t_floor_again:.2f}x  (target <= 1.25)")
    if shape.baseline:
        t_base = baseline(lm, sae, tokens, shape)
        print(f"baseline (per features) : {t_base:7.2f} s  {n_tokens / t_base:8.0f} tokens/s")
        print(f"baseline / ours         : {t_base / t_ours:.1f}x  (target >= 10)")
    small = min(n_contexts, 4 * BATCH_CONTEXTS)
    print(
        f"peak RSS of the floor   : {peak_memory_mb(args.shape, 'floor', small, shape.precision):.0f} MB at {small * SEQ} tokens"
    )
    print(f"peak RSS of our pass    : {peak_memory_mb(args.shape, 'ours', small, shape.precision):.0f} MB at {small * SEQ} tokens, "
          f"{peak_memory_mb(args.shape, 'ours', 4 * small, shape.precision):.0f} MB at {4 * small * SEQ} tokens")  # fmt: skip


if __name__ == "__main__":
    main()
