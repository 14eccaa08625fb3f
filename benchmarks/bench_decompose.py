"""Decompose every latent of a 49,152-latent SAE with a 2,304-latent meta-SAE (the paper's sizes).

    .venv/bin/python benchmarks/bench_decompose.py [--d-sae 49152] [--n-meta 2304] [--repeats 5]

Synthetic weights of the paper's shapes (d_in 768). The meta-SAE's threshold is set so that about
4 meta-latents are active per latent, as in the paper's k=4 meta-SAE. Prints the time of the whole
batched pass (decompositions, inverse index and reconstruction cosines) and entries per latent.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.metasae.decompose import build_decompositions
from backend.models.sae import SAE, SAEConfig


def synthetic(d_in: int, d_sae: int, n_meta: int) -> tuple[SAE, SAE]:
    gen = torch.Generator().manual_seed(0)
    sae = SAE(SAEConfig(d_in=d_in, d_sae=d_sae), device=torch.device("cpu"))
    meta = SAE(SAEConfig(d_in=d_in, d_sae=n_meta, architecture="jumprelu"), device=torch.device("cpu"))
    with torch.no_grad():
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=gen))
        meta.W_dec.copy_(torch.nn.functional.normalize(torch.randn(n_meta, d_in, generator=gen), dim=1))
        meta.W_enc.copy_(meta.W_dec.T)
        pre = torch.relu(meta.pre_acts(sae.unit_decoder()[:2000]))
        meta.threshold.fill_(float(pre.flatten().kthvalue(pre.numel() - 4 * 2000).values))
    return sae, meta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--d-sae", type=int, default=49_152)
    parser.add_argument("--n-meta", type=int, default=2_304)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sae, meta = synthetic(768, args.d_sae, args.n_meta)
    build_decompositions(meta, sae)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        table = build_decompositions(meta, sae)
        times.append(time.perf_counter() - start)
    active = sum(len(table.of_latent(i)) for i in range(0, args.d_sae, 97)) / len(range(0, args.d_sae, 97))
    print(f"{args.d_sae} latents x {args.n_meta} meta-latents, torch threads={torch.get_num_threads()}")
    print(f"decompose all: median {statistics.median(times):.3f} s, best {min(times):.3f} s (target <= 1 s)")
    print(f"stored entries (above the floor): {len(table.value):,}; active per latent at the threshold: {active:.1f}")


if __name__ == "__main__":
    main()
