"""A planted hierarchy: does a Matryoshka SAE's smallest prefix hold the parents, and does it absorb less than a
standard SAE of the same width? (issue 45's first target; the Matryoshka paper's toy, in spirit.)

Data: `parents` unit directions; every token has one parent (strength U[0.5, 1.5]) and, with probability `p_child`,
one of that parent's `children` (a child never fires without its parent). The SAEs:
- Matryoshka BatchTopK, d_sae = parents + parents * children, prefixes (parents, d_sae);
- standard BatchTopK of the prefix's width (does it find the parents?) and of the whole width (does it absorb?).
Measured per seed:
- parents found: the share of parents with a latent at decoder cosine >= 0.9 (in the prefix / the small SAE);
- absorption, with this project's absorption lens (backend/lenses/absorption.py) where the parent is the "letter" and
  its true direction the probe: main latents chosen by F1 on training tokens, then on held-out tokens carrying a
  child, the miss rate (every main latent silent), full absorption (a miss another aligned latent carries) and the
  absorption fraction.

    .venv/bin/python benchmarks/bench_matryoshka_toy.py [--seeds 3] [--epochs 8]
"""

import argparse
import platform
import time

import torch
from torch import Tensor

from backend.lenses.absorption import main_latents, token_absorption
from backend.lenses.cofiring import firing
from backend.models.sae import SAE
from backend.training.objectives import BatchTopK, Matryoshka
from backend.training.trainer import TrainConfig, train_sae

CPU = torch.device("cpu")


def hierarchy(n: int, d: int, parents: int, children: int, p_child: float, seed: int) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    parent_dirs = torch.nn.functional.normalize(torch.randn(parents, d, generator=gen), dim=-1)
    child_dirs = torch.nn.functional.normalize(torch.randn(parents, children, d, generator=gen), dim=-1)
    parent = torch.randint(0, parents, (n,), generator=gen)
    child = torch.randint(0, children, (n,), generator=gen)
    has_child = torch.rand(n, generator=gen) < p_child
    strength = torch.rand(n, 2, generator=gen) + 0.5
    x = strength[:, :1] * parent_dirs[parent] + (has_child[:, None] * strength[:, 1:]) * child_dirs[parent, child]
    x = x + 0.01 * torch.randn(n, d, generator=gen)
    return {"x": x, "parent": parent, "has_child": has_child, "parent_dirs": parent_dirs}


def parents_found(decoder: Tensor, parent_dirs: Tensor, at: float = 0.9) -> float:
    unit = torch.nn.functional.normalize(decoder.detach(), dim=1)
    return float(((parent_dirs @ unit.T).max(dim=1).values >= at).float().mean())


@torch.no_grad()
def absorption(sae: SAE, data: dict[str, Tensor]) -> dict[str, float]:
    """The absorption lens's measures, parents as letters: means over parents, on held-out tokens with a child."""
    x, parent = data["x"], data["parent"]
    train = torch.arange(len(x)) % 5 != 0
    acts = sae.encode(x)
    mains = main_latents(firing(sae, x[train]), parent[train])
    mean = x[train].mean(dim=0)
    miss, full, fraction = [], [], []
    for p, (main, _f1, _recall) in enumerate(mains[: len(data["parent_dirs"])]):  # the lens answers 26 letters
        rows = ~train & (parent == p) & data["has_child"]
        direction = data["parent_dirs"][p]
        found = token_absorption(acts[rows], sae.W_dec, direction, main, (x[rows] - mean) @ direction)
        miss.append(float(found.miss.float().mean()))
        full.append(float(found.full.float().mean()))
        fraction.append(float(found.fraction.mean()))
    return {name: sum(v) / len(v) for name, v in (("miss", miss), ("full", full), ("fraction", fraction))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--parents", type=int, default=4)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--p-child", type=float, default=0.5)
    parser.add_argument("--k", type=int, default=2)
    args = parser.parse_args()
    small, whole = args.parents, args.parents * (1 + args.children)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, CPU")
    print(
        f"{args.parents} parents x {args.children} children, p_child {args.p_child}, k {args.k}, {args.epochs} epochs"
    )
    print(
        "| seed | parents found: Matryoshka prefix | standard of the prefix's width | full absorption: Matryoshka "
        "| standard, same width | absorption fraction: Matryoshka | standard | miss rate: Matryoshka | standard |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    start = time.perf_counter()
    for seed in range(args.seeds):
        data = hierarchy(16_000, 32, args.parents, args.children, args.p_child, seed)
        common = {"batch_size": 256, "lr": 3e-3, "epochs": args.epochs, "aux_k": 8, "dead_after_tokens": 5_000,
                  "seed": seed}  # fmt: skip
        nested = Matryoshka(k=args.k, widths=(small, whole))
        matryoshka = train_sae(data["x"], TrainConfig(d_sae=whole, objective=nested, **common), device=CPU).sae
        narrow = train_sae(data["x"], TrainConfig(d_sae=small, objective=BatchTopK(k=args.k), **common), device=CPU)
        wide = train_sae(data["x"], TrainConfig(d_sae=whole, objective=BatchTopK(k=args.k), **common), device=CPU)
        found = parents_found(matryoshka.W_dec[:small], data["parent_dirs"])
        found_std = parents_found(narrow.sae.W_dec, data["parent_dirs"])
        m, s = absorption(matryoshka, data), absorption(wide.sae, data)
        print(
            f"| {seed} | {found:.2f} | {found_std:.2f} | {m['full']:.3f} | {s['full']:.3f} | {m['fraction']:.3f} | "
            f"{s['fraction']:.3f} | {m['miss']:.3f} | {s['miss']:.3f} |"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
