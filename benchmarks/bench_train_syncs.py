"""The trainer's host synchronisations per step (issue 47, item 2): the operations that make the host wait for a GPU
(a value read back, an output whose size depends on the data), counted on any device by torch's dispatcher, for
each training objective. On a GPU each one drains the queue of launched work, so the step's Python overhead and the
device's work stop overlapping; the embedded build trains eleven SAEs of up to 9,216 latents, small enough that
this, not the arithmetic, sets a GPU's time per step.

Counted as the difference between a run of `--steps` and one of twice as many (the initialisation's one-off reads
cancel out), leaving out the divergence check's read (once per 0.25 s: a read every step or two on a CPU, one in
hundreds of steps on a GPU). A batch sent to a GPU from pageable memory is a wait too; the trainer sends it through pinned memory
without waiting (not visible to the dispatcher on a CPU, so not counted here).

    .venv/bin/python benchmarks/bench_train_syncs.py [--d-sae 2304 --steps 8]

It also times `2 x --steps` steps of each objective as the build trains (nothing counted): the CPU's cost of the
change, run against an older trainer by copying this script into a checkout of it (its `CHECK_SECONDS` aside).
"""

import argparse
import math
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.training import trainer
from backend.training.objectives import OBJECTIVES
from backend.training.trainer import TrainConfig, train_sae

SYNCING = {
    "aten._local_scalar_dense.default": "a value read back (item, float, int, bool)",
    "aten.nonzero.default": "nonzero",
    "aten._unique2.default": "unique",
    "aten.unique_consecutive.default": "unique_consecutive",
    "aten.bincount.default": "bincount",
    "aten.repeat_interleave.Tensor": "repeat_interleave",
    "aten.masked_select.default": "masked_select",
}
MASKED = {"aten.index.Tensor", "aten.index_put_.default"}
"""Indexing by a boolean mask: a nonzero inside."""


class Counted(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        if name in MASKED and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] or ()):
            self.counts["boolean-mask indexing"] += 1
        elif name in SYNCING:
            self.counts[SYNCING[name]] += 1
        return func(*args, **(kwargs or {}))


def counted(x: torch.Tensor, cfg: TrainConfig) -> Counter[str]:
    checks = getattr(trainer, "CHECK_SECONDS", None)  # None: a trainer from before the check was periodic
    trainer.CHECK_SECONDS = math.inf  # its one read per 0.25 s is a read per step on a CPU, one in hundreds on a GPU
    mode = Counted()
    try:
        with mode:
            train_sae(x, cfg, device=torch.device("cpu"))
    finally:
        if checks is not None:
            trainer.CHECK_SECONDS = checks
    return mode.counts


def seconds(x: torch.Tensor, cfg: TrainConfig) -> float:
    """The training's wall time on this CPU, as the build runs it (nothing counted)."""
    started = time.perf_counter()
    train_sae(x, cfg, device=torch.device("cpu"))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument("--d-in", type=int, default=576)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    draw = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch * args.steps * 2, args.d_in, generator=draw).half()
    print(f"d_in {args.d_in}, d_sae {args.d_sae}, batch {args.batch}: host synchronisations per training step")
    print(f"| objective | per step | of which | {2 * args.steps} steps on this CPU, s |")
    print("| --- | --- | --- | --- |")
    for name, cls in sorted(OBJECTIVES.items()):
        settings = {"k": 32} if name in ("batchtopk", "matryoshka") else {}
        cfg = TrainConfig(d_sae=args.d_sae, objective=cls(**settings), batch_size=args.batch, epochs=0.5)
        wall = seconds(x, replace(cfg, epochs=1.0))
        short, long = counted(x, cfg), counted(x, replace(cfg, epochs=1.0))
        per_step = {op: (long[op] - short[op]) / args.steps for op in long}
        detail = ", ".join(f"{op} {n:g}" for op, n in sorted(per_step.items(), key=lambda i: -i[1]) if n)
        print(f"| {name} | {sum(per_step.values()):g} | {detail} | {wall:.1f} |")


if __name__ == "__main__":
    main()
