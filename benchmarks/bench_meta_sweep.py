"""Meta-SAE quality against dictionary size and k, on a built release's largest SAE.

    .venv/bin/python benchmarks/bench_meta_sweep.py [--release smollm2-wordnet] [--sizes 256,512,768,1024] [--k 4]

For each setting: a meta-SAE trained exactly as the build trains one (same epochs, lr, batch, seed),
then the two figures the build reports: the variance of the SAE's unit-norm decoder rows explained,
and member coherence (mean pairwise cosine of each meta-latent's top-8 member latents' activations
over the release's held-out tokens) against random sets of 8; then what the overview reads from it
(backend/explore/meaning.py): WordNet's category agreement against chance, catch-alls, spelling groups,
how many of the five most used meta-latents are spelling groups, and the Start here list (P = person,
L = place, O = other; parts that read as concepts, not spelling). Quality, not speed: nothing is
written to the release.
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
    parser.add_argument("--sae", default=None, help="default: the release's largest SAE")
    parser.add_argument("--sizes", default="256,512,768,1024")
    parser.add_argument("--k", default="4")
    args = parser.parse_args()

    from backend.core.config import default_device
    from backend.data.heldout import heldout
    from backend.explore.meaning import meaning
    from backend.index.store import IndexReader
    from backend.metasae.decompose import build_decompositions, decompose_all
    from backend.models.language import load_language_model
    from backend.models.loading import load_sae
    from backend.pipeline.profiles import PROFILES
    from backend.sources.catalog import default_release_id, get_release, load_catalog
    from backend.training.meta import MetaTrainConfig, base_metrics, fit_meta
    from backend.training.metrics import member_coherence

    release = get_release(args.release or default_release_id(load_catalog()))
    sae_id = args.sae or release.sae_ids[-1]
    base = load_sae(release, sae_id, default_device()).sae
    profile = PROFILES["default"]
    lm = load_language_model(release.model, default_device())
    held = heldout(release, lm, profile.eval_contexts).vectors
    print(
        f"{release.id} SAE {sae_id} ({base.cfg.d_sae} latents, k={release.sae(sae_id).k}); {len(held):,} held-out tokens"
    )
    index = IndexReader.open(release.paths.index(sae_id))
    labels = list(index.table(["latent", "label"])["label"])
    print("| meta-latents | k | VE | coherence (random) | agreement / chance | catch-alls | spelling groups "
          "| spelling in 5 most used (top share) | Start here | train s |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in (int(s) for s in args.sizes.split(",")):
        for k in (int(k) for k in args.k.split(",")):
            cfg = MetaTrainConfig(
                d_meta=size, k=k, epochs=profile.meta_epochs, lr=profile.meta_lr, batch_size=profile.meta_batch
            )
            start = time.perf_counter()
            result, _ = fit_meta(base, cfg, None, None)
            seconds = time.perf_counter() - start
            quality = {**base_metrics(result, base), **member_coherence(decompose_all(result.sae, base), base, held)}
            read = meaning(index, build_decompositions(result.sae, base), result.sae, base)
            judged = read.judgement.summary()
            kind = {"person": "P", "place": "L"}
            listed = ", ".join(f"{kind.get(item.kind, 'O')} {labels[item.latent]}" for item in read.showcase)
            print(
                f"| {size} | {k} | {quality['variance_explained']:.3f} | {quality['coherence_mean']:.3f} "
                f"({quality['coherence_random_baseline']:.4f}) | {judged['category_agreement_ratio']:.2f}x "
                f"| {int(judged['catch_all_meta_latents'])} | {int(judged['spelling_meta_latents'])} "
                f"| {int(judged['spelling_among_most_used'])} ({judged['most_used_share']:.1%}) | {listed} "
                f"| {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
