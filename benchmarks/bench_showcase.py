"""Read a built release's meta-SAE decompositions: the famous-people latent and the "Start here" list.

    .venv/bin/python benchmarks/bench_showcase.py [--release smollm2-wordnet] [--sae 9216]

The famous-people latent is found by its top examples, not by a fixed id: the latents whose stored top
examples name the most different people (words WordNet knows only as names, in noun.person synsets),
then each is printed with its decomposition (meta-latent labels from their members) and the cosine of its
decoder row with its meta-SAE reconstruction. Then the overview's showcase, chosen by
backend/metasae/showcase.py's rule. Quality, not speed: nothing is written.
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
    parser.add_argument("--top", type=int, default=3, help="famous-people latents to print")
    args = parser.parse_args()

    from backend.data.corpus import wordnet_names
    from backend.index.state import TOP_K
    from backend.index.store import IndexReader
    from backend.metasae.decompose import build_decompositions, meta_label, reconstruction_cosine
    from backend.metasae.showcase import TOP_EXAMPLES, name_latents, showcase
    from backend.models.loading import load_meta_sae, load_sae
    from backend.sources.catalog import default_release_id, get_release, load_catalog

    release = get_release(args.release or default_release_id(load_catalog()))
    meta_entry = release.meta_saes[0] if args.sae is None else release.meta_for(args.sae)[0]
    sae = load_sae(release, meta_entry.over).sae
    meta = load_meta_sae(release, meta_entry.id, sae)
    index = IndexReader(release.paths.index(meta_entry.over))
    labels = list(index.table(["latent", "label"])["label"])
    decomps = build_decompositions(meta, sae)
    vocab = index.vocab
    top = index.top_example_tokens(TOP_EXAMPLES)
    people = wordnet_names(people_only=True)
    stored = index.top_example_tokens(TOP_K)
    person = stored.assign(name=[vocab[t].strip() for t in stored["token"]])
    person = person[person["name"].isin(people)]
    # Many different people, not one name or one nationality fired on again and again.
    ranked = person.groupby("latent")["name"].nunique().sort_values(ascending=False)

    def describe(latent: int) -> str:
        parts = decomps.of_latent(latent)
        named = ", ".join(f"m{m} {meta_label(decomps.members(m), labels)} ({v:.2f})" for m, v in parts)
        return f"#{latent} {labels[latent]!r}: cosine {reconstruction_cosine(meta, sae, latent):.3f} -> {named}"

    print(f"{release.id} SAE-{meta_entry.over} with {meta_entry.id}; famous-people latents (most distinct "
          f"people's names among the top {TOP_K} examples):")  # fmt: skip
    for latent, count in ranked.head(args.top).items():
        found = sorted(set(person[person["latent"] == latent]["name"]))
        print(f"  {count} people {found}\n    {describe(int(latent))}")
    names = name_latents(top["token"].to_numpy(), top["latent"].to_numpy(), vocab, wordnet_names(), index.d_sae)
    print(f"Start here ({int(names.sum())} name latents):")
    for item in showcase(decomps, meta, sae, names):
        print(f"  {'name ' if item.name else 'other'} {describe(item.latent)}")


if __name__ == "__main__":
    main()
