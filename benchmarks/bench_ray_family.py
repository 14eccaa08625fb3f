"""Would the family jobs pay on Ray? Each job's items timed in one process, against the cluster's start.

    .venv/bin/python benchmarks/bench_ray_family.py [--largest 98304]

Jobs of a family split into independent items, one Ray task each at best: stitching matches (one per
neighbouring pair; synthetic decoders of the paper's GPT-2 sizes, 768 to 98,304, as bench_stitching.py),
decompositions (one per SAE, a 2,304-latent meta-SAE, as bench_decompose.py) and polysemy probes (one per
SAE, on the built embedded family; every item needs the model pass over the probe contexts, which one process
shares across SAEs). With any number of workers a job takes at least its largest item plus what each item
must redo (the model pass) plus starting the cluster and shipping the code: the best possible speed-up is
the one-process time over that. Needs the optional extra (`pip install -e .[ray]`) for the cluster start.
"""

import argparse
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decompose  # noqa: E402
import bench_stitching  # noqa: E402

from backend.cluster.runtime import RayConfig, connected  # noqa: E402
from backend.metasae.decompose import build_decompositions  # noqa: E402
from backend.models.language import load_language_model  # noqa: E402
from backend.models.loading import load_sae  # noqa: E402
from backend.polysemy.probe import top_latents, word_vectors  # noqa: E402
from backend.polysemy.probe_sets import wordnet_probe_set  # noqa: E402
from backend.sources.catalog import default_release_id, get_release, load_catalog  # noqa: E402
from backend.stitching.matching import classify, match_decoders  # noqa: E402


def seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def cluster_start() -> float:
    """Starting a local cluster, shipping the code and running one empty task."""
    start = time.perf_counter()
    with connected(RayConfig(workers=2)) as ray:
        ray.get(ray.remote(lambda: None).remote())
        return time.perf_counter() - start


def stitching(sizes: list[int]) -> list[float]:
    times = []
    for small, large in itertools.pairwise(sizes):
        rows_small, rows_large = bench_stitching.synthetic(small, large)
        times.append(seconds(lambda: classify(match_decoders(rows_small, rows_large), 0.7)))  # noqa: B023
    return times


def decompositions(sizes: list[int]) -> list[float]:
    times = []
    for size in sizes:
        sae, meta = bench_decompose.synthetic(768, size, 2304)
        times.append(seconds(lambda: build_decompositions(meta, sae)))  # noqa: B023
    return times


def polysemy() -> tuple[float, list[float]]:
    """The shared model pass and each SAE's encode, on the built embedded family (template mode)."""
    release = get_release(default_release_id(load_catalog()))
    probe = wordnet_probe_set()
    items = [(c, w) for w, c in zip(probe["word"], probe["context1"], strict=True)]
    items += [(c, w) for w, c in zip(probe["word"], probe["context2"], strict=True)]
    lm = load_language_model(release.model)
    start = time.perf_counter()
    vectors, _skipped = word_vectors(lm, release, items, "template", lambda *_: None)
    shared = time.perf_counter() - start
    per_sae = [seconds(lambda: top_latents(load_sae(release, s).sae, vectors, 1)) for s in release.sae_ids]  # noqa: B023
    return shared, per_sae


def row(job: str, items: list[float], shared: float, start: float) -> str:
    total = shared + sum(items)
    best = shared + max(items) + start
    return (
        f"| {job} | {len(items)} | {total:.1f} | {max(items):.1f} | {shared:.1f} | {best:.1f} | {total / best:.2f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--largest", type=int, default=98304)
    args = parser.parse_args()
    sizes = [args.largest >> i for i in range(7, -1, -1)]
    start = cluster_start()
    shared, per_sae = polysemy()
    print(f"local Ray cluster start + code shipped + one empty task: {start:.1f} s; family sizes {sizes}")
    print("| job | items | one process s | largest item s | redone per item s | best on Ray s | best speed-up |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(row("stitching matches, GPT-2 sizes", stitching(sizes), 0.0, start))
    print(row("decompositions, GPT-2 sizes", decompositions(sizes), 0.0, start))
    print(row("polysemy probe, embedded family", per_sae, shared, start))


if __name__ == "__main__":
    main()
