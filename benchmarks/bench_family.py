"""Which embedded SAE family behaves like the paper's? A sweep over architectures and settings.

    .venv/bin/python benchmarks/bench_family.py [--candidates NAME,...] [--sizes 1152,2304,4608,9216]
        [--train-tokens N] [--meta-ratio 18] [--list]

Every candidate trains a family with the build's own trainer on the release's cached activations
(the build's first stage, shared), then reports what issue 14 judges a family by: FVU, L0 and dead
fraction per SAE on the held-out tokens; per neighbouring pair the novel fraction at cosine 0.7 and
the stitching curve's highest point above the smaller SAE's normalised MSE, in the grouped and the
paper's novel-first order; with `--meta-ratio R`, a meta-SAE of d_sae/R latents (k=4) on the
largest SAE, with decoder-row variance explained and member coherence. Times are wall seconds on
this machine. Nothing is written to the release.
"""

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from backend.models.sae import SAE  # noqa: E402
from backend.training.objectives import BatchTopK  # noqa: E402
from backend.training.trainer import TrainConfig, train_sae  # noqa: E402

Candidate = Callable[[int], TrainConfig]


def relu(l1: float, lr: float, **settings: object) -> Candidate:
    """A standard ReLU + L1 candidate (the paper's architecture); `settings` as a catalog's training table."""
    table = {"objective": "l1", "l1_coef": l1, "lr": lr, "aux_k": 64, **settings}
    return lambda d: TrainConfig.from_table({**table, "d_sae": d})


def batchtopk(k: int) -> Candidate:
    return lambda d: TrainConfig(d_sae=d, objective=BatchTopK(k=k), aux_k=64)


CANDIDATES: dict[str, Candidate] = {
    "batchtopk-k64": batchtopk(64),
    "batchtopk-k32": batchtopk(32),
    "batchtopk-k16": batchtopk(16),
    # Encoder biases at zero (l1_init_l0=None), as the first sweep ran.
    "relu-l1-3-lr4e-4": relu(3.0, 4e-4, l1_init_l0=None),
    "relu-l1-2-lr4e-4": relu(2.0, 4e-4, l1_init_l0=None),
    "relu-l1-3-lr1e-3": relu(3.0, 1e-3, l1_init_l0=None),
    "relu-l1-3-lr3e-3": relu(3.0, 3e-3, l1_init_l0=None),
    "relu-l1-2-lr3e-3": relu(2.0, 3e-3, l1_init_l0=None),
    "relu-l1-3-lr6e-3": relu(3.0, 6e-3, l1_init_l0=None),
    # Encoder biases calibrated to start at L0 about 64 (the trainer's default for standard SAEs).
    "relu-l1-3-lr3e-3-cal": relu(3.0, 3e-3),
    "relu-l1-2-lr3e-3-cal": relu(2.0, 3e-3),
    "relu-l1-2.5-lr3e-3-cal": relu(2.5, 3e-3),
    "relu-l1-3-lr3e-3-random": relu(3.0, 3e-3, data_init=False),
}
PEAK_TOKENS = 40_000
"""Held-out tokens the stitching curves are measured on."""


def _dead(sae: SAE, x: torch.Tensor) -> torch.Tensor:
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    with torch.no_grad():
        for start in range(0, len(x), 4096):
            fired |= (sae.encode(x[start : start + 4096].float()) > 0).any(dim=0)
    return ~fired


def run_candidate(name: str, sizes: list[int], train_x: torch.Tensor, eval_x: torch.Tensor, meta_ratio: int) -> None:
    from backend.metasae.decompose import decompose_all
    from backend.stitching.curves import stitch_steps, stitching_curve
    from backend.stitching.matching import classify, match_saes
    from backend.training.meta import MetaTrainConfig, base_metrics, fit_meta
    from backend.training.metrics import member_coherence, reconstruction_metrics

    saes, dead = {}, {}
    for number, d_sae in enumerate(sizes):
        cfg = replace(CANDIDATES[name](d_sae), seed=len(sizes) - 1 - number)
        start = time.perf_counter()
        sae = train_sae(train_x, cfg).sae
        seconds = time.perf_counter() - start
        m = reconstruction_metrics(sae, eval_x)
        saes[d_sae], dead[d_sae] = sae, _dead(sae, eval_x)
        print(f"{name:20s} SAE-{d_sae:<6d} FVU {m['fvu']:.3f}  L0 {m['l0']:6.1f}  dead {m['dead_fraction']:.3f}"
              f"  train {seconds:5.0f} s", flush=True)  # fmt: skip
    x = eval_x[:PEAK_TOKENS].float()
    for small_id, large_id in pairwise(sizes):
        small, large = saes[small_id], saes[large_id]
        matching = match_saes(small, large)
        cls = classify(matching, 0.7, dead[small_id], dead[large_id])
        peaks = []
        for order in ("grouped", "novel-first"):
            curve = stitching_curve(small, large, x, stitch_steps(cls, order, matching.large_best), points=24)
            start_nmse = float(curve["nmse"].iloc[0])
            peaks.append((float(curve["nmse"].max()) - start_nmse) / start_nmse)
        print(f"{name:20s} {small_id}->{large_id}: novel {cls.summary()['novel fraction']:.3f}"
              f"  peak above smaller: grouped {peaks[0]:+.3f}, novel-first {peaks[1]:+.3f}", flush=True)  # fmt: skip
    if meta_ratio:
        base = saes[sizes[-1]]
        meta_cfg = MetaTrainConfig(d_meta=max(16, sizes[-1] // meta_ratio), k=4)
        start = time.perf_counter()
        result, _ = fit_meta(base, meta_cfg, None, None)
        seconds = time.perf_counter() - start
        q = {**base_metrics(result, base), **member_coherence(decompose_all(result.sae, base), base, eval_x)}
        print(f"{name:20s} meta {meta_cfg.d_meta} on SAE-{sizes[-1]}: VE {q['variance_explained']:.3f}"
              f"  coherence {q['coherence_mean']:.3f} (random {q['coherence_random_baseline']:.3f})"
              f"  train {seconds:4.0f} s", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="batchtopk-k64,relu-l1-3-lr3e-3-cal")
    parser.add_argument("--sizes", default="1152,2304,4608,9216")
    parser.add_argument("--train-tokens", type=int, default=0, help="0: every training token")
    parser.add_argument("--meta-ratio", type=int, default=18, help="0: no meta-SAE")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print("\n".join(CANDIDATES))
        return

    from backend.models.language import load_language_model
    from backend.pipeline.family_data import family_data
    from backend.pipeline.profiles import PROFILES
    from backend.sources.catalog import default_release_id, get_release, load_catalog

    release = get_release(default_release_id(load_catalog()))
    lm = load_language_model(release.model)
    data = family_data(release, lm, PROFILES["default"], lambda *_: None)
    train_x = data.train_x[: args.train_tokens or None]
    print(f"{release.id}: {len(train_x):,} training tokens, {len(data.eval_x):,} held out; "
          f"{torch.get_num_threads()} threads", flush=True)  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    for name in args.candidates.split(","):
        run_candidate(name, sizes, train_x, data.eval_x, args.meta_ratio)


if __name__ == "__main__":
    main()
