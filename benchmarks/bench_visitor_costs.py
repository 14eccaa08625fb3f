"""The rates behind backend/web/budget.py, measured on a built release: seconds per probe pair (two contexts through
the model, read by every SAE of the family, as the Polysemy page's benchmark runs it) and seconds per unit of
meta-SAE training work (epochs x decoder rows x meta-latents x d_in, as the overview's form trains one). Nothing is
stored: the probe pairs are a fresh sample and the meta-SAE is trained in memory.

    .venv/bin/python benchmarks/bench_visitor_costs.py [--release smollm2-wordnet] [--pairs 40] [--epochs 10]
"""

import argparse
import platform
import time

import torch

from backend.core.config import default_device
from backend.models.language import load_language_model
from backend.models.loading import load_sae
from backend.polysemy.bench import pair_items
from backend.polysemy.probe import word_vectors
from backend.polysemy.probe_sets import MAX_CONTEXT, wordnet_probe_set
from backend.sources.catalog import default_release_id, get_release, load_catalog
from backend.training.meta import MetaTrainConfig, fit_meta
from backend.web.budget import META_SECONDS_PER_UNIT, PROBE_KCHAR_SECONDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--d-meta", type=int, default=440)
    args = parser.parse_args()
    release = get_release(args.release or default_release_id(load_catalog()))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, {default_device()}; release {release.id}")  # fmt: skip
    lm = load_language_model(release.model, default_device())
    saes = [load_sae(release, sae_id).sae for sae_id in release.sae_ids]
    short = wordnet_probe_set().sample(args.pairs, random_state=7)
    # The longest contexts an upload may have (MAX_CONTEXT characters): a gloss repeated, the word kept in it.
    long = short.assign(
        **{c: [(t + " ") * (MAX_CONTEXT // (len(t) + 1)) for t in short[c]] for c in ("context1", "context2")}
    )
    for name, probe in (("WordNet glosses", short), (f"{MAX_CONTEXT}-character contexts", long)):
        chars = int(probe["context1"].str.len().sum() + probe["context2"].str.len().sum())
        for mode in ("template", "context"):
            start = time.perf_counter()
            vectors, _ = word_vectors(lm, release, pair_items(probe), mode)
            for sae in saes:
                sae.encode(vectors.to(sae.device))
            seconds = time.perf_counter() - start
            print(f"probe, {name}, {mode} mode: {seconds / len(probe):.3f} s per pair, {1000 * seconds / chars:.3f} s "
                  f"per 1,000 context characters with {len(saes)} SAEs (budget.py says {PROBE_KCHAR_SECONDS})")  # fmt: skip
    base = saes[-1]
    cfg = MetaTrainConfig(d_meta=args.d_meta, epochs=args.epochs)
    start = time.perf_counter()
    fit_meta(base, cfg, None, None)
    seconds = time.perf_counter() - start
    units = args.epochs * base.cfg.d_sae * args.d_meta * base.cfg.d_in
    print(f"meta-SAE: {seconds:.1f} s for {args.epochs:g} epochs x {base.cfg.d_sae} rows x {args.d_meta} x "
          f"{base.cfg.d_in} = {seconds / units:.2e} s per unit (budget.py says {META_SECONDS_PER_UNIT:.2e})")  # fmt: skip


if __name__ == "__main__":
    main()
