"""The paper's scale as a benchmark (issue 47): a GPT-2-shaped model, the paper's eight SAE sizes and a 2,304-latent
meta-SAE over SAE-49,152, taken through the commands a user runs, each stage timed, with how it grows with size.

    .venv/bin/python benchmarks/bench_paper_scale.py                 # 1M tokens on a GPU, a tenth on a CPU
    .venv/bin/python benchmarks/bench_paper_scale.py --sizes 96 192 --meta-over 192 --d-meta 16 --contexts 64

Inputs, written to a scratch folder as a user hands them over (not timed): a randomly initialised GPT-2 (d_model 768,
12 blocks, read before block 8) as a `local:` model folder, random token ids as a .npy, and one SAELens folder per
size: a JumpReLU SAE with unit random decoder rows and thresholds calibrated to an L0 of about 40 (the paper's
sparsity; what a stage costs depends on the shapes and the sparsity, not on what the weights learned).
Stages, each a fresh `python -m backend ...` process (interpreter start and loading included), except the maps:
1. `add` of the eight as one family (indexing 32 contexts each: the registration, not the index);
2. `index` of each size over every token (SAEDashboard's settings: positions 6:123, top 20);
3. `train-meta` on the meta-SAE's SAE, then `stitch` (matching and curves of the seven neighbouring pairs),
   then `lenses` (the canonical-units lenses an added release can have);
4. the latent map of each size, as the Map page computes it (`LatentMap(...).get()`, in this process).
Prints one row per stage and, for the stages run per size, seconds per size and the growth exponent between
neighbouring sizes (1.0: linear in the number of latents).
"""

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_index import SEQ, SHAPES, backend_run, calibrated_sae, language_model

PAPER_SIZES = (768, 1536, 3072, 6144, 12288, 24576, 49152, 98304)
HOOK = "blocks.8.hook_resid_pre"
L0 = 40
REGISTER_CONTEXTS = 32


def write_inputs(folder: Path, sizes: list[int], n_contexts: int) -> None:
    """The model folder, the token file and one SAELens folder per size."""
    import numpy as np

    from backend.models.formats import save_saelens

    lm = language_model("gpt2", torch.device("cpu"))
    tokens = torch.randint(0, len(lm.tokenizer), (n_contexts, SEQ), generator=torch.Generator().manual_seed(0))
    lm.model.save_pretrained(folder / "model")
    lm.tokenizer.save_pretrained(folder / "model")
    np.save(folder / "tokens.npy", tokens.numpy())
    for size in sizes:
        sae = calibrated_sae(lm, tokens, replace(SHAPES["gpt2"], d_sae=size), l0=L0)
        sae.cfg = replace(sae.cfg, hook_name=HOOK, model_name=f"local:{folder / 'model'}", context_size=SEQ)
        save_saelens(sae, folder / f"sae-{size}")


def growth(sizes: list[int], seconds: list[float]) -> list[str]:
    """The exponent of each step's growth: log(t2 / t1) / log(n2 / n1)."""
    steps = zip(sizes, sizes[1:], seconds, seconds[1:], strict=False)
    return [f"{math.log(b / a) / math.log(m / n):.2f}" if a > 0 and b > 0 else "-" for n, m, a, b in steps]


def row(name: str, run: tuple[float, float]) -> None:
    """A stage run once: its seconds and its process's peak resident memory."""
    print(f"| {name} | {run[0]:.1f} | | | {run[1]:,.0f} |")


def per_size(name: str, sizes: list[int], runs: list[tuple[float, float]]) -> None:
    seconds = [t for t, _ in runs]
    print(f"| {name} | {sum(seconds):.1f} | " + ", ".join(f"{n:,}: {t:.1f}" for n, t in zip(sizes, seconds, strict=True))
          + f" | {', '.join(growth(sizes, seconds))} | {max(peak for _, peak in runs):,.0f} |")  # fmt: skip


def index(folder: Path, size: int, tokens: str, n_contexts: int) -> tuple[float, float]:
    """`index` of one size over every token, at SAEDashboard's settings."""
    return backend_run(folder, "index", "--release", "paper", "--sae", str(size), "--tokens", tokens,
                       "--positions", "6:123", "--top-k", "20", "--contexts", str(n_contexts))  # fmt: skip


def maps(folder: Path, sizes: list[int]) -> list[tuple[float, float]]:
    """Each size's latent map, as the Map page computes it (the peak is this process's, inputs included)."""
    import os
    import resource

    os.environ["ATLAS_DATA_DIR"] = str(folder / "data")
    from backend.explore.latent_map import LatentMap
    from backend.sources.catalog import get_release

    release = get_release("paper")
    umap_compiled()
    runs = []
    for size in sizes:
        start = time.perf_counter()
        LatentMap(release, str(size)).get()
        runs.append((time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    return runs


def umap_compiled() -> None:
    """UMAP compiles itself (numba) on its first use in a process: a cost of the process, not of a map."""
    import numpy as np
    import umap

    umap.UMAP(n_neighbors=5, n_epochs=10).fit_transform(np.random.default_rng(0).normal(size=(64, 8)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(PAPER_SIZES))
    parser.add_argument(
        "--contexts", type=int, help="contexts of 128 tokens (default: 1M tokens on a GPU, a tenth here)"
    )
    parser.add_argument("--meta-over", type=int, default=49152, help="the size the meta-SAE is trained on")
    parser.add_argument("--d-meta", type=int, default=2304)
    parser.add_argument("--keep", type=Path, help="an empty folder to build in and keep (to serve the release after)")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    if args.meta_over not in sizes:
        sys.exit(f"--meta-over {args.meta_over} is not one of the sizes {sizes}.")
    gpu = torch.cuda.is_available()
    n_contexts = args.contexts or (1_000_000 if gpu else 100_000) // SEQ
    device = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"{device}, torch {torch.__version__}, {len(sizes)} sizes, {n_contexts:,} contexts of {SEQ} tokens")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            sys.exit(f"--keep {folder} is not empty.")
        start = time.perf_counter()
        write_inputs(folder, sizes, n_contexts)
        print(f"inputs written in {time.perf_counter() - start:.1f} s (not a stage)")
        tokens = str(folder / "tokens.npy")
        print("| stage | seconds | by size | growth exponent between neighbouring sizes | peak RSS MB |")
        print("| --- | --- | --- | --- | --- |")
        saes = [arg for size in sizes for arg in ("--sae", str(folder / f"sae-{size}"))]
        registered = min(REGISTER_CONTEXTS, n_contexts)
        row(f"add ({len(sizes)} SAEs, {registered} contexts each)",
            backend_run(folder, "add", "--id", "paper", *saes, "--model", f"local:{folder / 'model'}", "--hook", HOOK,
                        "--convention", "hf", "--context-size", str(SEQ), "--tokens", tokens,
                        "--contexts", str(registered)))  # fmt: skip
        per_size(
            f"index, {n_contexts * SEQ:,} tokens each", sizes, [index(folder, n, tokens, n_contexts) for n in sizes]
        )
        row(f"train-meta ({args.d_meta:,} over {args.meta_over:,})",
            backend_run(folder, "train-meta", "--release", "paper", "--sae", str(args.meta_over),
                        "--d-meta", str(args.d_meta)))  # fmt: skip
        row(
            f"stitch ({len(sizes) - 1} pairs, matching and curves)", backend_run(folder, "stitch", "--release", "paper")
        )
        row("lenses", backend_run(folder, "lenses", "--release", "paper"))
        per_size("latent maps (in process)", sizes, maps(folder, sizes))
        print(f"whole: {time.perf_counter() - start:.1f} s")
        if args.keep:
            print(f"kept: serve it with ATLAS_DATA_DIR={folder / 'data'}")


if __name__ == "__main__":
    main()
