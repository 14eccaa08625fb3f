"""Latent-card latency on a synthetic index of 98,304 latents (the size of the paper's largest SAE).

    .venv/bin/python benchmarks/bench_cards.py [--latents 98304] [--samples 200]

Writes a store with the real writer (random statistics and examples, 24 top + 40 interval examples
per latent), then times `CardReader.card` on random latents and the whole latent page server-side
(streamlit's AppTest running app.py, without AppTest's per-run package scan), and prints p50 / p95.
"""

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEQ, N_CONTEXTS, VOCAB, WINDOW = 128, 2000, 5000, 16


def synthetic_index(folder: Path, d_sae: int) -> None:
    from backend.index.store import write_index

    rng = np.random.default_rng(0)
    latents = pd.DataFrame(
        {
            "latent": np.arange(d_sae),
            "count": rng.integers(0, 10_000, d_sae),
            "density": rng.random(d_sae) / 100,
            "max": rng.random(d_sae) * 20,
            "mean": rng.random(d_sae) * 5,
            "label": [f"tok{i % 997} · tok{i % 991}" for i in range(d_sae)],
            "top_tokens": [f"tok{i % 997} tok{i % 991}" for i in range(d_sae)],
            "hist_bins": [np.sort(rng.choice(240, 30, replace=False)).astype(np.int16) for _ in range(d_sae)],
            "hist_counts": [rng.integers(1, 100, 30) for _ in range(d_sae)],
            "nn_latent": [rng.integers(0, d_sae, 10).astype(np.int32) for _ in range(d_sae)],
            "nn_cos": [np.sort(rng.random(10).astype(np.float32))[::-1] for _ in range(d_sae)],
            "lens_pos_idx": [rng.integers(0, VOCAB, 10) for _ in range(d_sae)],
            "lens_pos_val": [rng.random(10).astype(np.float32) for _ in range(d_sae)],
            "lens_neg_idx": [rng.integers(0, VOCAB, 10) for _ in range(d_sae)],
            "lens_neg_val": [-rng.random(10).astype(np.float32) for _ in range(d_sae)],
        }
    )
    per = 24 + 40
    n = d_sae * per
    examples = pd.DataFrame(
        {
            "latent": np.repeat(np.arange(d_sae), per),
            "kind": np.tile(["top"] * 24 + ["interval"] * 40, d_sae),
            "interval": np.tile([-1] * 24 + [i // 4 for i in range(40)], d_sae),
            "rank": np.tile(list(range(24)) + [i % 4 for i in range(40)], d_sae),
            "value": rng.random(n).astype(np.float32) * 10,
            "token": rng.integers(0, N_CONTEXTS * SEQ, n),
            "window": list(rng.random((n, WINDOW), dtype=np.float32)),
        }
    )
    tokens = rng.integers(0, VOCAB, (N_CONTEXTS, SEQ))
    meta = {
        "key": {"synthetic": True},
        "d_sae": d_sae,
        "n_tokens": N_CONTEXTS * SEQ,
        "n_contexts": N_CONTEXTS,
        "context_size": SEQ,
    }
    ordered = examples.sort_values(["latent", "kind", "interval", "rank"])
    table = pa.Table.from_pandas(ordered, preserve_index=False)
    write_index(folder, meta, latents, table, tokens, [f"tok{i}" for i in range(VOCAB)])


def bench_release(d_sae: int, prefix: str) -> Path:
    """A throw-away data directory and catalog with one release `bench` holding an SAE of `d_sae` latents.

    Removed when the script exits: at 98,304 latents it holds over a GB.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.environ["ATLAS_DATA_DIR"] = str(root / "data")
    catalog = root / "catalog.toml"
    catalog.write_text(
        '[releases.bench]\ntitle = "bench"\ndefault = true\nmodel = "embedded:smollm2-135m-instruct"\n'
        f'hook = "blocks.8.hook_resid_pre"\nsaes = [{{ id = "{d_sae}", path = "sae" }}]\n'
    )
    os.environ["ATLAS_CATALOG"] = str(catalog)
    return root


def percentiles(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=20)
    return f"p50 {statistics.median(samples) * 1000:6.1f} ms   p95 {qs[18] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latents", type=int, default=98_304)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    root = bench_release(args.latents, "bench-cards-")
    from backend.index.cards import CardReader
    from backend.index.store import IndexReader

    folder = root / "data" / "releases" / "bench" / "index" / str(args.latents)
    start = time.perf_counter()
    synthetic_index(folder, args.latents)
    print(f"wrote a {args.latents}-latent index in {time.perf_counter() - start:.0f} s")
    reader = CardReader(IndexReader.open(folder))
    reader.card(0)
    rng = random.Random(0)
    timings = []
    for _ in range(args.samples):
        latent = rng.randrange(args.latents)
        start = time.perf_counter()
        reader.card(latent)
        timings.append(time.perf_counter() - start)
    print(f"card(latent), cold latents      : {percentiles(timings)}")

    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.testing.v1 import AppTest

    # A real server scans installed packages for components once, at startup; AppTest does it on
    # every run (~0.3 s here), which is harness overhead, not page rendering. Skip it for timing.
    BidiComponentManager.discover_and_register_components = lambda *_a, **_k: None  # type: ignore[method-assign]
    page = []
    for _ in range(max(20, args.samples // 10)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params.update(
            {"release": "bench", "sae": str(args.latents), "latent": str(rng.randrange(args.latents))}
        )
        at.switch_page("pages/views/latent.py")
        start = time.perf_counter()
        at.run()
        page.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    print(f"latent page, server side (AppTest, router + page): {percentiles(page[1:])}")


if __name__ == "__main__":
    main()
