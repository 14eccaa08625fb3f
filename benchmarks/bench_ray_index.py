"""The latent index on a local Ray cluster against the one-process build, on the same tokens, in one run.

    .venv/bin/python benchmarks/bench_ray_index.py [--release smollm2-wordnet] [--sae 4608] [--contexts 512]
        [--workers 2] [--shard-contexts 64]

Needs the optional extra (`pip install -e .[ray]`) and the release built. Measures, on this machine:
- one process: backend/index/build.py's pass over the tokens (all torch threads);
- Ray: starting the local cluster, then the shards (one task each, a worker loading the model and SAE once)
  and the tree merge, with every overhead included; the merged state is checked equal to the one-process one;
- the merge of two shard states, at two token counts per shard (it should not depend on tokens) and for
  empty states of larger SAEs (a merge sorts the same fixed-size tensors whatever they hold);
and projects the wall time of N workers (e.g. N GPUs) from the measured per-shard throughput and merge cost.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from backend.cluster.index_shards import ShardJob, fold_on_ray, fold_shard  # noqa: E402
from backend.cluster.runtime import RayConfig, connected  # noqa: E402
from backend.index.build import run_pass  # noqa: E402
from backend.index.plan import IndexPlan  # noqa: E402
from backend.index.release import IndexSettings, plan_release_index  # noqa: E402
from backend.index.state import IndexState, merge  # noqa: E402
from backend.sources.catalog import default_release_id, get_release, load_catalog  # noqa: E402


def timed(run):
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def merge_seconds(a: IndexState, b: IndexState, repeats: int = 3) -> float:
    return min(timed(lambda: merge(a, b))[1] for _ in range(repeats))


def shard_state(plan: IndexPlan, job: ShardJob, contexts: int) -> IndexState:
    return IndexState(**fold_shard(job, plan.tokens[:contexts], 0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--release")
    parser.add_argument("--sae", default="4608")
    parser.add_argument("--contexts", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-contexts", type=int, default=64)
    args = parser.parse_args()
    release = get_release(args.release or default_release_id(load_catalog()))
    plan = plan_release_index(release, args.sae, IndexSettings(contexts=args.contexts))
    assert plan.worker is not None  # a release's plan always says how workers load it
    n_tokens, n_shards = plan.tokens.numel(), math.ceil(len(plan.tokens) / args.shard_contexts)
    print(f"{release.id}/SAE-{args.sae}: {len(plan.tokens)} contexts, {n_tokens} tokens, {plan.worker.precision}, "
          f"{n_shards} shards of {args.shard_contexts} contexts; {torch.get_num_threads()} torch threads")  # fmt: skip

    with tempfile.TemporaryDirectory() as work:
        whole, t_one = timed(lambda: run_pass(plan.sae, plan.tokens, plan.activations, plan.cfg, Path(work), plan.key))
    assert whole is not None
    config = RayConfig(workers=args.workers, shard_contexts=args.shard_contexts)
    job = ShardJob(plan.worker, plan.cfg, "bench")
    start = time.perf_counter()
    with connected(config) as ray:
        t_init = time.perf_counter() - start
        state, t_ray = timed(lambda: fold_on_ray(ray, job, plan.tokens, config))
    t_total = time.perf_counter() - start  # the cluster's start, the shards and merges, and its shutdown
    same = all(
        torch.allclose(t, getattr(state, n), rtol=1e-12, atol=0) if n == "total" else torch.equal(t, getattr(state, n))
        for n, t in whole.tensors().items()
    )

    small, large = shard_state(plan, job, 32), shard_state(plan, job, 128)
    m_small, m_large = merge_seconds(small, small), merge_seconds(large, large)
    d = plan.sae.cfg.d_sae
    bigger = {n: merge_seconds(IndexState.empty(n), IndexState.empty(n), 2) for n in (24576, 98304)}

    per_worker = n_tokens / (t_ray * args.workers)  # tokens/s of one worker, overheads of the shards included
    print(f"one process               : {t_one:7.2f} s  {n_tokens / t_one:8.0f} tokens/s")
    print(f"Ray, {args.workers} workers: start cluster: {t_init:7.2f} s")
    print(f"Ray, {args.workers} workers: shards + merge: {t_ray:7.2f} s  {n_tokens / t_ray:8.0f} tokens/s")
    print(
        f"Ray / one process         : {t_total / t_one:.2f}x with the cluster's start and stop, {t_ray / t_one:.2f}x without"
    )
    print(f"merged state equals one-process state: {same}")
    print(f"merge of two SAE-{d} states: {m_small * 1e3:.0f} ms (shards of {32 * 128} tokens), "
          f"{m_large * 1e3:.0f} ms (shards of {128 * 128} tokens)")  # fmt: skip
    print("merge of two empty states: " + ", ".join(f"SAE-{n}: {s * 1e3:.0f} ms" for n, s in bigger.items()))
    print("projection, N workers at the measured per-worker rate, this many tokens, tree merge of the shards:")
    for n in (1, 2, 4, 8, 16):
        depth = math.ceil(math.log2(max(n_shards, 2)))
        print(f"  N={n:2d}: {n_tokens / (per_worker * n) + depth * m_large + t_init:7.2f} s")


if __name__ == "__main__":
    main()
