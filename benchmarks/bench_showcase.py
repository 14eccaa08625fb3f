"""Read a built release's meta-SAE decompositions as the overview does: WordNet's judgement of the meta-latents,
the five most used, the famous-people latent, the person latents and the "Start here" list.

    .venv/bin/python benchmarks/bench_showcase.py [--release smollm2-wordnet] [--sae 9216] [--top 6]

Everything comes from backend/explore/meaning.py (the rules of backend/metasae/semantics.py and showcase.py),
so what is printed is what the app shows. Each latent is printed with its label, the cosine of its decoder row
with its meta-SAE reconstruction and its decomposition (meta-latent labels from their members). Quality, not
speed: nothing is written.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--sae", default=None, help="default: the SAE the release's meta-SAE decomposes")
    parser.add_argument("--top", type=int, default=6, help="person latents to print")
    args = parser.parse_args()

    import numpy as np
    import torch

    from backend.explore.meaning import meaning
    from backend.index.store import IndexReader
    from backend.metasae.decompose import build_decompositions, meta_label, reconstruction_cosines
    from backend.metasae.showcase import latent_kinds
    from backend.models.loading import load_meta_sae, load_sae
    from backend.sources.catalog import default_release_id, get_release, load_catalog

    release = get_release(args.release or default_release_id(load_catalog()))
    meta_entry = release.meta_saes[0] if args.sae is None else release.meta_for(args.sae)[0]
    sae = load_sae(release, meta_entry.over).sae
    meta = load_meta_sae(release, meta_entry.id, sae)
    index = IndexReader.open(release.paths.index(meta_entry.over))
    labels = list(index.table(["latent", "label"])["label"])
    decomps = build_decompositions(meta, sae)
    found = meaning(index, decomps, meta, sae)
    verdict = found.judgement

    def parts(latent: int, shown: list[tuple[int, float]] | None = None) -> str:
        items = shown if shown is not None else decomps.of_latent(latent)
        return " + ".join(f"m{m} [{meta_label(decomps.members(m), labels)}] {v:.2f}" for m, v in items)

    cosine = dict(
        zip(range(sae.cfg.d_sae), reconstruction_cosines(meta, sae, torch.arange(sae.cfg.d_sae)).tolist(), strict=True)
    )
    print(f"{release.id} SAE-{meta_entry.over} with {meta_entry.id} ({meta.cfg.d_sae} meta-latents)")
    summary = verdict.summary()
    print(
        f"category agreement {summary['category_agreement']:.3f} vs random {summary['category_agreement_random']:.3f}"
        f" = {summary['category_agreement_ratio']:.2f}x over {verdict.judged_meta_latents} meta-latents; catch-alls "
        f"{int(summary['catch_all_meta_latents'])}; spelling groups {int(summary['spelling_meta_latents'])}; uniform "
        f"share {verdict.uniform:.2%}"
    )
    print("most used meta-latents:")
    for j in verdict.most_used():
        spelling = ", spelling" if verdict.spelling[j] else ""
        print(f"  m{j} in {verdict.shares[j]:.1%} of latents{spelling}: {meta_label(decomps.members(j), labels)}")
    if found.famous_people is not None:
        latent = found.famous_people
        print(f"famous-people latent #{latent} {labels[latent]!r} ({int(found.words.distinct_people[latent])} people), "
              f"cosine {cosine[latent]:.3f}: {parts(latent)}")  # fmt: skip
    kinds = latent_kinds(found.words)
    people = [i for i, kind in enumerate(kinds) if kind == "person"]
    ranked = sorted(people, key=lambda i: (-int(found.words.distinct_people[i]), i))[: args.top]
    print(f"person latents: {len(people)} (by distinct people):")
    for latent in ranked:
        print(f"  #{latent} {labels[latent]!r}: cosine {cosine[latent]:.3f} -> {parts(latent)}")
    print("Start here:")
    for item in found.showcase:
        print(f"  {item.kind:6s} #{item.latent} {labels[item.latent]!r}: cosine {item.cosine:.3f} -> "
              f"{parts(item.latent, item.parts)}")  # fmt: skip
    shared = np.bincount([m for item in found.showcase for m, _ in item.parts], minlength=meta.cfg.d_sae)
    print(
        f"most shared meta-latent in Start here: in {int(shared.max()) if len(shared) else 0} of {len(found.showcase)}"
    )


if __name__ == "__main__":
    main()
