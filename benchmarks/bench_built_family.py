"""The built family's figures, read from what the build stored: per SAE its held-out quality and next-token loss,
per neighbouring pair the novel fraction and how far the stitching curve rises above the smaller SAE.

    .venv/bin/python benchmarks/bench_built_family.py [--release smollm2-wordnet]

Nothing is computed but the classification of the stored matchings at cosine 0.7 (the default curves' settings);
the numbers are the ones the overview and the Stitching page show.
"""

import argparse
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None)
    args = parser.parse_args()

    from backend.explore.paper import curve_rise
    from backend.models.loading import load_sae
    from backend.pipeline.build import read_summary
    from backend.sources.catalog import default_release_id, get_release, load_catalog
    from backend.stitching.curves import CurveConfig
    from backend.stitching.family import Curves, pair_classification
    from backend.training.metrics import random_nn_cosine_baseline

    release = get_release(args.release or default_release_id(load_catalog()))
    summary = read_summary(release)
    if not summary.get("complete"):
        raise SystemExit(f"{release.id} is not built completely: run `python -m backend build` first.")
    settings = CurveConfig()
    curves = Curves(release, settings).read()
    if curves is None:
        raise SystemExit("The build's stitching curves are missing: run `python -m backend build` again.")
    tokens = summary["tokens"]
    print(f"{release.id} at {release.hook}: {tokens['contexts']:,} contexts, {tokens['train']:,} training tokens, "
          f"{tokens['eval']:,} held out; {summary['excluded_fraction']:.2%} of tokens above the norm cap excluded")  # fmt: skip
    print("| SAE | FVU | L0 | dead | NN decoder cosine (random) | Δ next-token loss ± SE (nats) |")
    print("| --- | --- | --- | --- | --- | --- |")
    plain = curves[curves["kind"] == "sae"].set_index("pair")
    for sae_id in release.sae_ids:
        m = summary["metrics"][sae_id]
        loss = plain.loc[f"SAE-{sae_id}"]
        cfg = load_sae(release, sae_id).sae.cfg
        baseline = random_nn_cosine_baseline(cfg.d_sae, cfg.d_in)
        print(f"| {sae_id} | {m['fvu']:.3f} | {m['l0']:.1f} | {m['dead_fraction']:.1%} | {m['nn_cosine_mean']:.3f} "
              f"({baseline:.3f}) | {loss['dloss']:.3f} ± {loss['dloss_se']:.3f} |")  # fmt: skip
    rises = curve_rise(curves)
    print(f"\n| pair | novel at {settings.threshold} | components 1→1 / 1→n / n→1 / n→m | curve's highest nMSE above "
          f"the smaller SAE ({settings.order} order) |")  # fmt: skip
    print("| --- | --- | --- | --- |")
    for small, large in itertools.pairwise(release.sae_ids):
        found = pair_classification(release, small, large, settings.threshold)
        if found is None:
            raise SystemExit(f"The matching {small}→{large} is missing: run `python -m backend build` again.")
        s = found.summary()
        print(f"| {small}→{large} | {s['novel fraction']:.1%} | {s['1→1']} / {s['1→n']} / {s['n→1']} / {s['n→m']} | "
              f"{rises[f'{small}→{large}']:+.1%} |")  # fmt: skip
    for meta in release.meta_saes:
        m = summary["metrics"][meta.id]
        print(f"\n{meta.id} ({meta.d_sae} meta-latents, k={meta.k}): decoder variance explained "
              f"{m['variance_explained']:.3f}; member coherence {m['coherence_mean']:.3f} (random sets "
              f"{m['coherence_random_baseline']:.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
