"""The polysemy benchmark on a built family, as the Polysemy page runs it, with the figures BENCHMARKS.md records.

    .venv/bin/python benchmarks/bench_polysemy.py [--release smollm2-wordnet] [--mode template] [--hooks H,H,...]

The offline WordNet probe set (400 balanced pairs), every SAE of the family read in one model pass, PS-Eval's
counting (positive = same meaning, classes balanced); the predictions are stored in the release as the page
stores them, so the page shows them at once. Prints per SAE: pairs counted, skipped, confusion counts, precision,
recall, F1, specificity, accuracy, the size-trend sentence the page shows, and the time of the pass; then, as the
page's "Beyond the strongest latent", each SAE's whole code and the residual stream read by the cosine of a pair's
two readings with a cross-validated threshold. With --hooks, the residual stream read the same way at each of those
hooks: what the model itself holds of the senses, layer by layer, with no SAE.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import pandas as pd

    from backend.polysemy.probe import Mode
    from backend.sources.release import Release


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--mode", default="template", choices=("template", "context"))
    parser.add_argument("--hooks", default="", help="comma-separated hooks to read the residual stream at")
    args = parser.parse_args()

    from backend.core.config import default_device
    from backend.models.language import load_language_model
    from backend.models.loading import load_sae
    from backend.polysemy.bench import predictions
    from backend.polysemy.probe_sets import wordnet_probe_set
    from backend.polysemy.summary import beyond_argmax, size_trend, summarise, threshold_readings
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
    readings = threshold_readings(probe, found, sizes)
    print("\n| reader | pairs | mean cosine same / different | precision | recall | F1 | specificity | accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, row in readings.iterrows():
        print(
            f"| {row['reader']} | {row['pairs']} | {row['mean cosine, same']:.3f} / {row['mean cosine, different']:.3f} "
            f"| {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['specificity']:.3f} "
            f"| {row['accuracy']:.3f} |"
        )
    print(beyond_argmax(summary, readings))
    if args.hooks:
        print("\n| hook | residual stream: specificity | recall | accuracy |\n| --- | --- | --- | --- |")
        for hook in args.hooks.split(","):
            row = residual_at(release, probe, args.mode, hook).iloc[0]
            print(f"| {hook} | {row['specificity']:.3f} | {row['recall']:.3f} | {row['accuracy']:.3f} |")


def residual_at(release: "Release", probe: "pd.DataFrame", mode: "Mode", hook: str) -> "pd.DataFrame":
    """The residual stream's cosine reading of the probe set at another hook of the release's model."""
    import dataclasses

    import pandas as pd

    from backend.models.language import load_language_model
    from backend.polysemy.bench import pair_cosines, pair_items, pair_reasons
    from backend.polysemy.probe import RESIDUAL, word_vectors
    from backend.polysemy.summary import threshold_readings

    at_hook = dataclasses.replace(release, hook=hook)
    vectors, skipped = word_vectors(load_language_model(release.model), at_hook, pair_items(probe), mode)
    reasons = pair_reasons(skipped)
    frame = pd.DataFrame({"cosine": pair_cosines(vectors, reasons), "skipped": reasons})
    return threshold_readings(probe, {RESIDUAL: frame}, {})


if __name__ == "__main__":
    main()
