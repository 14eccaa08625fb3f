"""Seed alignment: the sparse Hungarian assignment against the dense one, at the embedded default's size and the paper's.

    .venv/bin/python benchmarks/bench_seed_alignment.py [--release smollm2-wordnet] [--sizes 9216 98304]

1. The built release: each SAE against its second seed, the sparse assignment (what the build stores) and
   SciPy's dense `linear_sum_assignment` on the full cosine matrix (up to `--dense-up-to` latents): time, total
   cosine and shared count of each. Target: 9,216 against 9,216 in <= 30 s on 2 cores.
2. Synthetic pairs at GPT-2's width (768), `--sizes` latents, 30% of the rows planted in the other seed: the sparse
   assignment's time, its shared fraction against the planted one, and the peak memory. A dense 98,304 x 98,304
   float32 matrix is 38.7 GB, so the dense assignment is not run there.
"""

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _dense(a: "torch.Tensor", b: "torch.Tensor") -> tuple[float, float, int]:
    from scipy.optimize import linear_sum_assignment

    from backend.models.geometry import unit_rows

    start = time.perf_counter()
    cos = (unit_rows(a.float()) @ unit_rows(b.float()).T).numpy()
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return time.perf_counter() - start, float(cos[rows, cols].sum()), int((cos[rows, cols] >= 0.7).sum())


def built(release_id: str, dense_up_to: int) -> None:
    from backend.lenses.seeds import align_seeds
    from backend.models.loading import load_sae
    from backend.sources.catalog import get_release

    release = get_release(release_id)
    print(f"{release_id}: each SAE against its second seed (2 cores)")
    print(
        "| SAE | sparse (s) | dense (s) | ratio | total cosine sparse / dense | decoder >= 0.7 sparse / dense | shared |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for twin in release.second_seeds:
        first, second = load_sae(release, twin.of).sae, load_sae(release, twin.id).sae
        start = time.perf_counter()
        found = align_seeds(first, second)
        sparse_s = time.perf_counter() - start
        cosine = found.decoder_cos
        sparse_total, sparse_shared = float(cosine.sum()), int((cosine >= 0.7).sum())
        if first.cfg.d_sae <= dense_up_to:
            dense_s, dense_total, dense_shared = _dense(first.W_dec.detach(), second.W_dec.detach())
            dense = f"{dense_s:.1f} | {dense_s / sparse_s:.0f}x | {sparse_total:.1f} / {dense_total:.1f} | "
            dense += f"{sparse_shared} / {dense_shared}"
        else:
            dense = f"not run | | {sparse_total:.1f} / | {sparse_shared} /"
        print(f"| {twin.of} | {sparse_s:.1f} | {dense} | {found.shared_fraction():.3f} |")


def synthetic(sizes: list[int], width: int) -> None:
    import torch

    from backend.lenses.seeds import align_decoders

    print(f"\nSynthetic pairs, width {width}, 30% of rows planted in the other seed (2 cores)")
    print("| latents | sparse assignment (s) | shared found / planted | peak RSS (GB) |")
    print("| --- | --- | --- | --- |")
    for n in sizes:
        draw = torch.Generator().manual_seed(n)
        a = torch.randn(n, width, generator=draw)
        b = torch.randn(n, width, generator=draw)
        planted = int(0.3 * n)
        b[:planted] = a[:planted] + 0.02 * torch.randn(planted, width, generator=draw)
        b = b[torch.randperm(n, generator=draw)]
        start = time.perf_counter()
        _, cosine = align_decoders(a, b)
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"| {n:,} | {seconds:.1f} | {int((cosine >= 0.7).sum()):,} / {planted:,} | {rss:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="smollm2-wordnet", help="a built release with second seeds ('' to skip)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[9216, 98304])
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--dense-up-to", type=int, default=9216)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    if args.release:
        built(args.release, args.dense_up_to)
    synthetic(args.sizes, args.width)


if __name__ == "__main__":
    main()
