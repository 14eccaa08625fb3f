"""Decoder matching + classification for a 49,152 vs 98,304 pair (the GPT-2 family's largest sizes).

    .venv/bin/python benchmarks/bench_stitching.py [--small 49152] [--large 98304] [--embedded]

Synthetic decoders of the paper's shape (d_in 768): the larger holds noisy copies of a third of the
smaller's rows (so there are components to find) and random rows. Prints wall time and peak RSS of
the whole pass against the targets (<= 60 s, < 4 GB), and the chunked bfloat16 matching against an
exact float32 product of the same chunks on a slice, as a ratio. With --embedded, also times the
stitching curves of the embedded family (the release must be built), loss measurements included.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.stitching.matching import classify, match_decoders


def synthetic(n_small: int, n_large: int, d_in: int = 768) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    small = torch.randn(n_small, d_in, generator=gen)
    large = torch.randn(n_large, d_in, generator=gen)
    copies = n_small // 3
    large[:copies] = small[:copies] + 0.5 * torch.randn(copies, d_in, generator=gen)
    return small, large


def exact_fp32(small: torch.Tensor, large: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """The plain way: float32 cosines chunk by chunk, best partner of each larger row."""
    s = torch.nn.functional.normalize(small, dim=1)
    big = torch.nn.functional.normalize(large, dim=1)
    return torch.cat([(big[i : i + chunk] @ s.T).max(dim=1).values for i in range(0, len(big), chunk)])


def embedded_curves() -> None:
    from backend.models.language import load_language_model
    from backend.sources.catalog import default_release_id, get_release, load_catalog
    from backend.stitching.curves import CurveConfig
    from backend.stitching.family import Curves

    release = get_release(default_release_id(load_catalog()))
    settings = CurveConfig(seed=int(time.time()))  # a fresh seed: never served from the cache
    lm = load_language_model(release.model)
    start = time.perf_counter()
    Curves(release, settings, lm=lambda: lm).get()
    print(f"embedded family curves ({len(release.sae_ids) - 1} pairs, loss at {settings.loss_points} points each): "
          f"{time.perf_counter() - start:.1f} s (target <= 120 s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=49_152)
    parser.add_argument("--large", type=int, default=98_304)
    parser.add_argument("--embedded", action="store_true")
    args = parser.parse_args()
    small, large = synthetic(args.small, args.large)
    print(f"{args.small} x {args.large} decoders (d_in 768), torch threads={torch.get_num_threads()}")
    start = time.perf_counter()
    found = classify(match_decoders(small, large), 0.7)
    elapsed = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"matching + classification: {elapsed:.1f} s (target <= 60 s), peak RSS {peak_gb:.2f} GB (target < 4 GB)")
    print(
        f"  reconstruction {found.n_reconstruction:,}, novel {len(found.novel):,}, components {len(found.components):,}"
    )
    part_s, part_l = small[:8192], large[:16384]
    start = time.perf_counter()
    fast = match_decoders(part_s, part_l)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    truth = exact_fp32(part_s, part_l)
    t_exact = time.perf_counter() - start
    print(f"slice 8192 x 16384: exact float32 best-partner pass / ours (both directions, edges) = "
          f"{t_exact / t_fast:.2f}x; max |cos difference| {float((fast.large_cos - truth).abs().max()):.1e}")  # fmt: skip
    if args.embedded:
        embedded_curves()


if __name__ == "__main__":
    main()
