"""The polysemy benchmark on a built family, as the Polysemy page runs it, with the figures BENCHMARKS.md records.

    .venv/bin/python benchmarks/bench_polysemy.py [--release smollm2-wordnet] [--mode template]

The offline WordNet probe set (400 balanced pairs), every SAE of the family read in one model pass, PS-Eval's
counting (positive = same meaning, classes balanced); the predictions are stored in the release as the page
stores them, so the page shows them at once. Prints per SAE: pairs counted, skipped, confusion counts, precision,
recall, F1, specificity, accuracy, the size-trend sentence the page shows, and the time of the pass.
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--mode", default="template", choices=("template", "context"))
    args = parser.parse_args()

    from backend.core.config import default_device
    from backend.models.language import load_language_model
    from backend.models.loading import load_sae
    from backend.polysemy.bench import predictions
    from backend.polysemy.probe_sets import wordnet_probe_set
    from backend.polysemy.summary import size_trend, summarise
    from backend.sources.catalog import default_release_id, get_release, load_catalog

    release = get_release(args.release or default_release_id(load_catalog()))
    probe = wordnet_probe_set()
    start = time.perf_counter()
    found = predictions(release, probe, args.mode, release.sae_ids, lambda: load_language_model(release.model))
    seconds = time.perf_counter() - start
    sizes = {sae_id: load_sae(release, sae_id, default_device()).sae.cfg.d_sae for sae_id in release.sae_ids}
    summary = summarise(probe, found, sizes)
    print(f"{release.id} at {release.hook}, {args.mode} mode, {len(probe)} WordNet pairs ({seconds:.1f} s)")
    print("| SAE | pairs | skipped | tp / fp / tn / fn | precision | recall | F1 | specificity | accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, row in summary.iterrows():
        print(
            f"| {row['sae']} | {row['pairs']} | {row['skipped']} | {row['tp']} / {row['fp']} / {row['tn']} / {row['fn']} "
            f"| {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['specificity']:.3f} "
            f"| {row['accuracy']:.3f} |"
        )
    print(size_trend(summary))


if __name__ == "__main__":
    main()
