"""The latent map: UMAP time for 49,152 decoder rows of width 768, and the map page for 98,304 latents.

    .venv/bin/python benchmarks/bench_map.py [--umap-latents 49152] [--page-latents 98304] [--samples 10]

Also each colouring's figure for the page latents, built and written as JSON as `st.plotly_chart` writes it
(`plotly.io.to_json`), in this process: what every rerun of the map pays whatever the cache holds.

UMAP runs on synthetic decoder rows with cluster structure (1,000 random centres plus noise), seeded,
single-threaded as a seed requires. The page is timed server side (streamlit's AppTest running app.py,
without AppTest's per-run package scan) on a synthetic 98,304-latent index and map written by the
real writers, coloured by density; it draws every point with WebGL (Scattergl), no downsampling.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def time_umap(n: int, d: int = 768) -> None:
    from backend.explore.latent_map import MapConfig, umap_layout

    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(1000, d, generator=gen)
    rows = centres[torch.randint(0, 1000, (n,), generator=gen)] + 0.7 * torch.randn(n, d, generator=gen)
    umap_layout(rows[:2000], MapConfig())  # numba compiles on first use; not part of the timing
    start = time.perf_counter()
    umap_layout(rows, MapConfig())
    print(f"UMAP {n} x {d} (cosine, seeded, 1 thread): {time.perf_counter() - start:.1f} s")


def time_page(n: int, samples: int) -> None:
    from bench_cards import bench_release, synthetic_index

    bench_release(n, "bench-map-")
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.testing.v1 import AppTest

    from backend.explore.latent_map import LatentMap, map_frame
    from backend.models.formats import METRICS, save_saelens
    from backend.models.sae import SAE, SAEConfig
    from backend.sources.catalog import get_release

    release = get_release("bench")
    save_saelens(SAE(SAEConfig(d_in=576, d_sae=n)), release.paths.folder("sae"))  # the map is keyed on its weights
    # What marks a trained SAE finished (`trained`): without it the page says "not built yet" and draws nothing.
    (release.paths.folder("sae") / METRICS).write_text("{}")
    synthetic_index(release.paths.index(str(n)), n)
    LatentMap(release, str(n)).store(map_frame(np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)))
    # A real server scans installed packages for components once, at startup; AppTest does it on every run.
    BidiComponentManager.discover_and_register_components = lambda *_a, **_k: None  # type: ignore[method-assign]
    times = []
    for number in range(samples + 1):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params.update({"release": "bench", "sae": str(n), "latent": str(number), "colour": "density"})
        at.switch_page("pages/views/map.py")
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
        assert at.get("plotly_chart"), f"the map page drew no map: {[i.value for i in at.info]}"
    warm = times[1:]
    print(f"map page, {n} points, server side: first {times[0]:.2f} s (reads and caches the map), "
          f"then p50 {statistics.median(warm):.2f} s, max {max(warm):.2f} s (target <= 1 s)")  # fmt: skip


def time_figures(n: int, samples: int) -> None:
    """Each colouring's figure of an `n`-point map: built, then written as Streamlit writes it."""
    import pandas as pd
    import plotly.io

    from pages.sections.figures import STATUS_COLOURS, latent_map_figure

    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "latent": np.arange(n), "x": rng.normal(size=n), "y": rng.normal(size=n),
        "label": [f"token{i % 997} · word{i % 89}" for i in range(n)],
        "meta": rng.integers(-1, 2304, n), "meta label": [f"meta {i % 2304}" for i in range(n)],
        "log10 density": rng.uniform(-6, -1, n), "status": rng.choice(list(STATUS_COLOURS), n),
    })  # fmt: skip
    for colour, column in (("meta-latent", "meta"), ("density", "log10 density"), ("novelty", "status")):
        built, written = [], []
        for _ in range(max(samples, 1)):
            start = time.perf_counter()
            figure = latent_map_figure(table, column, marked=7)
            built.append(time.perf_counter() - start)
            start = time.perf_counter()
            plotly.io.to_json(figure, validate=False)
            written.append(time.perf_counter() - start)
        print(f"map figure, {n:,} points, coloured by {colour}: built {statistics.median(built):.3f} s, "
              f"written {statistics.median(written):.3f} s (medians of {len(built)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--umap-latents", type=int, default=49_152)
    parser.add_argument("--page-latents", type=int, default=98_304)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    time_page(args.page_latents, args.samples)
    time_figures(args.page_latents, args.samples)
    if args.umap_latents:
        time_umap(args.umap_latents)


if __name__ == "__main__":
    main()
