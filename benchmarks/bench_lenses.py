"""The lenses' settings swept on a built release: the absorber cosine floor and the facets' clustering cut.

    .venv/bin/python benchmarks/bench_lenses.py [--release smollm2-wordnet] [--profile default]

Absorption (backend/lenses/absorption.py), per SAE, means over the measurable letters: full absorption and the
absorption fraction with the probe's directions and with random ones, at each absorber cosine floor. A floor where
random directions score as much as the probe's measures nothing. Facets (backend/lenses/facets.py), per SAE: facets
per latent and the share of latents with one facet at each cosine-distance cut, from the index's interval examples.
Each stage's time is printed as measured (2 cores).
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="smollm2-wordnet")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--floors", type=float, nargs="*", default=[0.025, 0.1, 0.2])
    parser.add_argument("--cuts", type=float, nargs="*", default=[0.6, 0.7, 0.8, 0.9])
    args = parser.parse_args()
    import numpy as np

    from backend.index.store import IndexReader
    from backend.lenses import absorption, facets
    from backend.lenses.kinds.absorption import probe as letter_probe
    from backend.lenses.kinds.absorption import words as word_tokens
    from backend.models.loading import load_sae
    from backend.pipeline.build import built_lens_data
    from backend.sources.catalog import get_release

    release = get_release(args.release)
    start = time.perf_counter()
    data = built_lens_data(release, args.profile)
    probe, words = letter_probe(data), word_tokens(data)
    print(f"{args.release}: {len(words.letter):,} word tokens, probe accuracy on held-out words "
          f"{probe.accuracy:.3f}, {int((probe.f1 >= absorption.MIN_PROBE_F1).sum())} letters at F1 >= "
          f"{absorption.MIN_PROBE_F1} ({time.perf_counter() - start:.1f} s with loading)")  # fmt: skip
    print("\n| SAE | absorber cosine floor | full absorption (random) | absorption fraction (random) | time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for sae_id in release.sae_ids:
        sae = load_sae(release, sae_id).sae
        for floor in args.floors:
            absorption.ABSORBER_COSINE = floor
            start = time.perf_counter()
            table = absorption.absorption_table(sae, words, probe, data.vocab)
            shown = table[table.apply(absorption.measurable, axis=1)]
            print(f"| {sae_id} | {floor} | {shown.full_absorption.mean():.3f} ({shown.baseline_full_absorption.mean():.3f})"
                  f" | {shown.absorption_fraction.mean():.3f} ({shown.baseline_absorption_fraction.mean():.3f})"
                  f" | {time.perf_counter() - start:.1f} |")  # fmt: skip
    print("\n| SAE | distance cut | facets per latent | one facet | time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for sae_id in release.sae_ids:
        reader = IndexReader.open(release.paths.index(sae_id))
        samples = reader.interval_samples()
        n = len(reader.tokens)
        vectors = facets.context_vectors(data.acts[-n:], samples["token"].to_numpy())
        flat = np.asarray(reader.tokens).reshape(-1)
        strings = [reader.vocab[int(flat[i])] for i in samples["token"].to_numpy()]
        for cut in args.cuts:
            facets.FACET_DISTANCE = cut
            start = time.perf_counter()
            counts = facets.facet_table(samples, vectors, strings).groupby("latent").size()
            print(
                f"| {sae_id} | {cut} | {counts.mean():.2f} | {(counts == 1).mean():.2f} | {time.perf_counter() - start:.1f} |"
            )


if __name__ == "__main__":
    main()
