"""The GPU check: what this project's compute costs on the accelerator it finds, as one table.

    bash benchmarks/gpu.sh            # on a machine with a CUDA GPU: under 5 minutes, appends to BENCHMARKS.md
    bash benchmarks/gpu.sh --tiny     # the same steps at toy sizes, on any machine, in about a minute

Steps (each timed on the device the code picks, CUDA when present), each row printed (and written to
`$OUT/gpu-check.md`, where a lent machine's files come back from) as it is measured:
1. the latent index against its floor (model forward to the hook + encode) at the GPT-2 shape of
   benchmarks/bench_index.py, in fp32 and under bf16 autocast, over 512 and 2,048 contexts;
2. SAE encode throughput in fp32 (as the index encodes) and in bf16, each as a fraction of a large matmul of
   that precision measured here (and, for bf16, of the datasheet's dense peak when the device is known);
3. decomposing 49,152 latents with a 2,304-latent meta-SAE (benchmarks/bench_decompose.py's weights);
4. stitching: matching 49,152 against 98,304 decoder rows and classifying them (benchmarks/bench_stitching.py's);
5. the embedded build (`python -m backend build`) into a fresh data directory.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decompose  # noqa: E402
import bench_index  # noqa: E402
import bench_stitching  # noqa: E402
import torch  # noqa: E402

from backend.core.config import default_device  # noqa: E402
from backend.core.paths import MODELS  # noqa: E402
from backend.metasae.decompose import build_decompositions  # noqa: E402
from backend.models.sae import SAE, SAEConfig  # noqa: E402
from backend.sources.catalog import default_release_id, get_release, load_catalog  # noqa: E402
from backend.stitching.matching import classify, match_decoders  # noqa: E402

BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0}
"""Dense bf16 tensor-core peaks from the vendors' datasheets (SXM parts), by a name fragment."""


def timed(run) -> float:
    bench_index.sync()
    start = time.perf_counter()
    run()
    bench_index.sync()
    return time.perf_counter() - start


def datasheet_peak(name: str) -> float | None:
    return next((peak for part, peak in BF16_PEAK_TFLOPS.items() if part in name), None)


def matmul_tflops(device: torch.device, n: int, dtype: torch.dtype) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    seconds = min(timed(lambda: a @ b) for _ in range(5))
    return 2 * n**3 / seconds / 1e12


def encode_tflops(device: torch.device, d_in: int, d_sae: int, tokens: int, dtype: torch.dtype) -> float:
    sae = SAE(SAEConfig(d_in=d_in, d_sae=d_sae, architecture="jumprelu"), device=device, dtype=dtype)
    x = torch.randn(tokens, d_in, device=device, dtype=dtype)
    with torch.no_grad():
        sae.encode(x)
        seconds = min(timed(lambda: sae.encode(x)) for _ in range(5))
    return 2 * tokens * d_in * d_sae / seconds / 1e12


def random_model(config: Path, data: Path) -> None:
    """The embedded model's folder in `data` as its conversion leaves it, with random weights of the config in
    `config` (seeded) and the real tokenizer beside them: the model's conversion is not timed then."""
    from transformers import AutoConfig, AutoModelForCausalLM

    name = get_release(default_release_id(load_catalog())).model.removeprefix("embedded:")
    target = data / MODELS / name
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config), dtype=torch.float32).save_pretrained(target)
    for path in config.iterdir():
        if path.name != "config.json":
            shutil.copy(path, target / path.name)


def embedded_build(tiny: bool, model_config: Path | None) -> list[tuple[str, str]]:
    """The embedded build from an empty data directory (but for the model when `model_config` gives a random one):
    its whole time, then what `build` says of each family (the seconds of every stage that took one, and when the
    app was usable)."""
    with tempfile.TemporaryDirectory() as data:
        if model_config is not None:
            random_model(model_config, Path(data))
        env = {**os.environ, "ATLAS_DATA_DIR": data}
        command = [sys.executable, "-m", "backend", "build", *(["--profile", "tiny"] if tiny else [])]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
        whole = time.perf_counter() - start
    said = [line.split(": ", 1) for line in done.stdout.splitlines() if " in this run" in line or "usable" in line]
    name = "embedded build" + (" (tiny profile)" if tiny else "")
    name += " (random weights of the model's config, its real tokenizer; not converted)" if model_config else ""
    return [(name, f"{whole:.0f} s"), *((f"{name}: {release}", what) for release, what in said)]


def commit() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def index_rows(device: torch.device, contexts: int) -> list[tuple[str, str]]:
    lm, sae, tokens, shape = bench_index.setup("gpt2", contexts, device)
    rows = []
    for precision in ("fp32", "bf16"):
        at = replace(shape, precision=precision)
        bench_index.floor(lm, sae, tokens[: bench_index.BATCH_CONTEXTS], at)
        floor, ours = bench_index.floor(lm, sae, tokens, at), bench_index.ours(lm, sae, tokens, at)
        rows.append(
            (
                f"index, GPT-2 shape, SAE-{shape.d_sae}, {tokens.numel():,} tokens, {precision}: ours / floor",
                f"{ours:.1f} s / {floor:.1f} s = {ours / floor:.2f}x ({tokens.numel() / ours:,.0f} tokens/s)",
            )
        )
    return rows


class Table:
    """The check's table, each row printed and written to `$OUT/gpu-check.md` (where a lent machine's files come
    back from) as it is measured, so a run cut off by its time limit still returns what it had."""

    def __init__(self, header: str) -> None:
        self.lines = [header, "| step | measured |", "| --- | --- |"]
        self.out = Path(os.environ["OUT"]) / "gpu-check.md" if os.environ.get("OUT") else None
        print("\n".join(self.lines), flush=True)
        self._write()

    def add(self, rows: list[tuple[str, str]]) -> None:
        for step, value in rows:
            self.lines.append(f"| {step} | {value} |")
            print(self.lines[-1], flush=True)
        self._write()

    def _write(self) -> None:
        if self.out is not None:
            self.out.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def encode_rows(device: torch.device, name: str, tiny: bool) -> list[tuple[str, str]]:
    # fp32 is what the index encodes in (bench_index's rows); bf16 is what the device's peak is quoted for.
    rows = []
    for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        measured = matmul_tflops(device, 2048 if tiny else 8192, dtype)
        sheet = datasheet_peak(name) if dtype == torch.bfloat16 else None
        for d_in, d_sae in ((768, 24576), (2304, 65536)):
            tflops = encode_tflops(device, d_in, d_sae, 1024 if tiny else 16384, dtype)
            of_sheet = f", {tflops / sheet:.0%} of the datasheet's {sheet:.0f}" if sheet else ""
            rows.append(
                (
                    f"SAE encode, {label}, d_in {d_in}, d_sae {d_sae:,}",
                    f"{tflops:.1f} TFLOP/s = {tflops / measured:.0%} of a {label} matmul here ({measured:.1f}){of_sheet}",
                )
            )
    return rows


def paper_rows(device: torch.device, small: int, large: int) -> list[tuple[str, str]]:
    sae, meta = bench_decompose.synthetic(768, small, 2304)
    sae, meta = sae.to(device), meta.to(device)
    build_decompositions(meta, sae)
    decompose = timed(lambda: build_decompositions(meta, sae))
    rows_small, rows_large = (t.to(device) for t in bench_stitching.synthetic(small, large))
    stitch = timed(lambda: classify(match_decoders(rows_small, rows_large), 0.7))
    return [
        (f"decompose {small:,} latents (2,304 meta-latents)", f"{decompose:.2f} s"),
        (f"stitching: match + classify {small:,} vs {large:,}", f"{stitch:.1f} s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks the script on any machine")
    parser.add_argument(
        "--random-model", type=Path, help="the embedded model's config and tokenizer: build on random weights"
    )
    parser.add_argument("--commit", help="the commit measured, where the tree has no git (a GPU kit's)")
    args = parser.parse_args()
    device = default_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    small, large = (4608, 9216) if args.tiny else (49152, 98304)
    table = Table(
        f"\n### GPU check on {name} ({datetime.date.today()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"commit {args.commit or commit()}{', tiny sizes' if args.tiny else ''})\n"
    )
    # The index first (the quickest rows), the build last (the longest).
    for contexts in (64,) if args.tiny else (512, 2048):
        table.add(index_rows(device, contexts))
    table.add(encode_rows(device, name, args.tiny))
    table.add(paper_rows(device, small, large))
    table.add(embedded_build(args.tiny, args.random_model))
    if not args.tiny:
        with (ROOT / "BENCHMARKS.md").open("a", encoding="utf-8") as out:
            out.write("\n".join(table.lines) + "\n")


if __name__ == "__main__":
    main()
