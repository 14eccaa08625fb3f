"""Lineage trees from stored matchings: a synthetic family at the paper's shapes, and the built default.

    .venv/bin/python benchmarks/bench_lineage.py [--release smollm2-wordnet]

Synthetic family: 8 sizes, 768 to 98,304 latents (GPT-2's family), each latent of size i+1 splitting
from latent l // 2 of size i at cosine U(0.6, 0.95), and one in five also close to a random other
(cosine U(0.5, 0.75)): 1→2 splits everywhere, merges sprinkled. The matchings are written as the
build stores them (safetensors), then read back and a lineage drawn for latents of every size: the
server time of one lineage is reading the seven matchings (the app caches them after the first
time), the walk, and building the Plotly figure. Target: <= 300 ms.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = [768 * 2**i for i in range(8)]


def synthetic_matching(n_small: int, seed: int):
    import torch

    from backend.stitching.matching import EDGE_FLOOR, Matching

    gen = torch.Generator().manual_seed(seed)
    n_large = 2 * n_small
    large = torch.arange(n_large)
    parent = large // 2
    cos = 0.6 + 0.35 * torch.rand(n_large, generator=gen)
    extra = large[torch.rand(n_large, generator=gen) < 0.2]
    extra_parent = torch.randint(0, n_small, (len(extra),), generator=gen)
    extra_cos = 0.5 + 0.25 * torch.rand(len(extra), generator=gen)
    small_best = torch.arange(n_small) * 2
    return Matching(
        small_best=small_best,
        small_cos=cos[small_best],
        large_best=parent,
        large_cos=cos,
        edge_small=torch.cat([parent, extra_parent]),
        edge_large=torch.cat([large, extra]),
        edge_cos=torch.cat([cos, extra_cos]),
        floor=EDGE_FLOOR,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None, help="also time the built release's own family")
    args = parser.parse_args()

    from safetensors.torch import load_file, save_file

    from backend.stitching.lineage import lineage
    from backend.stitching.matching import EDGE_FLOOR, matching_from_tensors
    from pages.sections.figures import lineage_figure

    ids = [str(n) for n in SIZES]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, n in enumerate(SIZES[:-1]):
            path = Path(folder) / f"match-{n}-{2 * n}.safetensors"
            save_file({k: v.contiguous() for k, v in synthetic_matching(n, i).tensors().items()}, str(path))
            paths.append(path)
        print("| SAE | latent | read 7 matchings ms | lineage ms | figure ms | nodes | edges |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        totals = []
        for sae_id in ids:
            latent = int(sae_id) // 3
            start = time.perf_counter()
            matchings = [matching_from_tensors(load_file(str(p)), EDGE_FLOOR) for p in paths]
            read = time.perf_counter() - start
            start = time.perf_counter()
            tree = lineage(ids, matchings, sae_id, latent, 0.7)
            walk = time.perf_counter() - start
            start = time.perf_counter()
            lineage_figure(tree, {}).to_json()
            draw = time.perf_counter() - start
            totals.append(read + walk + draw)
            cells = f"{read * 1e3:.1f} | {walk * 1e3:.1f} | {draw * 1e3:.1f} | {len(tree.nodes)} | {len(tree.edges)}"
            print(f"| {sae_id} | {latent} | {cells} |")
    print(f"median server time (read + walk + figure) {statistics.median(totals) * 1e3:.1f} ms; target <= 300 ms")
    if args.release is not None:
        own_family(args.release)


def own_family(release_id: str) -> None:
    from backend.sources.catalog import get_release
    from backend.stitching.family import PairMatching
    from backend.stitching.lineage import lineage

    release = get_release(release_id)
    matchings = [PairMatching(release, small, large).read() for small, large in release.neighbour_pairs]
    if any(m is None for m in matchings):
        print(f"{release_id}: the stitching matchings are not built yet")
        return
    start = time.perf_counter()
    first = release.sae_ids[0]
    sizes = [len(lineage(release.sae_ids, matchings, first, i, 0.7).nodes) for i in range(1000)]  # type: ignore[arg-type]
    each = (time.perf_counter() - start) / 1000
    print(f"{release_id}: {each * 1e3:.2f} ms per lineage from SAE-{first}, median {statistics.median(sizes)} nodes")


if __name__ == "__main__":
    main()
