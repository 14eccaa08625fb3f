"""A Matryoshka SAE beside the built standard family, on the same activations (issue 45, the first measurement).

Trains one Matryoshka BatchTopK SAE of the family's largest size whose prefixes are the family's sizes, as the build
trains the family's SAEs (same data, epochs, batch and learning rate), for each `--k`, and prints per prefix: L0 and
FVU on held-out tokens beside the standard SAE of that size (measured here on the same tokens), and the cross-family
matches: the share of the standard SAE's live latents with a partner at decoder cosine >= 0.7 in the Matryoshka prefix
of the same width (the same latent found both ways is a candidate canonical unit), and the reverse. Nothing is
stored.

    .venv/bin/python benchmarks/bench_matryoshka_family.py [--release smollm2-wordnet] [--k 40 52]
"""

import argparse
import platform
import time
from dataclasses import replace

import torch

from backend.models.geometry import nearest_rows
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.pipeline.build import _Inputs
from backend.pipeline.members import train_config
from backend.pipeline.profiles import PROFILES
from backend.sources.catalog import default_release_id, get_release, load_catalog
from backend.training.objectives import Matryoshka
from backend.training.trainer import train_sae

MATCH = 0.7


def matched(rows: torch.Tensor, other: torch.Tensor) -> float:
    """The share of `rows [n, d]` (live ones) with a row of `other` at cosine >= MATCH."""
    live = rows[rows.norm(dim=1) > 0]
    _, cosine = nearest_rows(live, other, 1)
    return float((cosine[:, 0] >= MATCH).float().mean())


@torch.no_grad()
def prefix_figures(sae: SAE, x: torch.Tensor, width: int) -> tuple[float, float]:
    acts = sae.encode(x)
    acts[:, width:] = 0
    err = x - (acts @ sae.W_dec + sae.b_dec)
    fvu = float(err.pow(2).sum() / (x - x.mean(dim=0)).pow(2).sum())
    return float((acts > 0).sum(dim=1).float().mean()), fvu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--k", type=int, nargs="+", default=[40, 52])
    parser.add_argument("--eval-tokens", type=int, default=20_000)
    args = parser.parse_args()
    release = get_release(args.release or default_release_id(load_catalog()))
    profile = PROFILES[args.profile]
    data = _Inputs(release, profile).data()
    x = data.eval_x[: args.eval_tokens].float()
    standard = {e.id: load_sae(release, e.id).sae for e in release.saes}
    widths = tuple(s.cfg.d_sae for s in standard.values())
    largest = release.saes[-1]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}; release {release.id}, widths {widths}, {len(x):,} held-out tokens")  # fmt: skip
    print("| k | width | L0: standard / Matryoshka | FVU: standard / Matryoshka | standard latents matched in the prefix | "
          "prefix latents matched in the standard SAE |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for k in args.k:
        cfg = train_config(release, largest, profile.epochs, profile.batch_size, profile.seed)
        cfg = replace(cfg, objective=Matryoshka(k=k, widths=widths))
        start = time.perf_counter()
        sae = train_sae(data.train_x, cfg).sae.cpu()
        seconds = time.perf_counter() - start
        for plain, width in zip(standard.values(), widths, strict=True):
            l0, fvu = prefix_figures(sae, x, width)
            own_l0, own_fvu = prefix_figures(plain, x, width)
            prefix = sae.W_dec[:width].detach()
            print(f"| {k} | {width:,} | {own_l0:.1f} / {l0:.1f} | {own_fvu:.3f} / {fvu:.3f} | "
                  f"{matched(plain.W_dec.detach(), prefix):.1%} | {matched(prefix, plain.W_dec.detach()):.1%} |")  # fmt: skip
        print(f"(k {k}: trained in {seconds:.0f} s)")


if __name__ == "__main__":
    main()
