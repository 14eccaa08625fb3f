"""Steering on the embedded model: time from Generate to the first steered token, and tokens per second.

    .venv/bin/python benchmarks/bench_steer.py [--release smollm2-wordnet] [--sae 9216] [--repeats 5]

The app keeps the model and SAE loaded (cached resources), so a click pays for building the direction,
tokenising, the prompt's forward pass and one sample: that is "first token". Loading the model once is
printed separately. Strength 0 is checked to give the unsteered text token for token.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "My favourite thing to talk about is"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default=None)
    parser.add_argument("--sae", default=None, help="default: the largest SAE")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=40)
    args = parser.parse_args()

    import torch

    from backend.core.config import default_device
    from backend.index.cards import CardReader
    from backend.index.store import IndexReader
    from backend.models.language import load_language_model
    from backend.models.loading import load_sae
    from backend.sources.catalog import default_release_id, get_release, load_catalog
    from backend.steering.directions import latent_direction
    from backend.steering.generate import SteerConfig, steered_generation

    release = get_release(args.release or default_release_id(load_catalog()))
    sae_id = args.sae or release.sae_ids[-1]
    device = default_device()
    start = time.perf_counter()
    lm = load_language_model(release.model, device)
    loaded = time.perf_counter() - start
    sae = load_sae(release, sae_id, device).sae
    cards = CardReader(IndexReader.open(release.paths.index(sae_id)))
    live = cards.index.table(["latent", "max"]).query("max > 0")["latent"].tolist()
    print(f"device {device}, {torch.get_num_threads()} threads; model load {loaded:.2f} s (once per server)")
    print("| latent | strength | first token s | tokens/s (both rows) | differs from unsteered |")
    print("| --- | --- | --- | --- | --- |")
    firsts = []
    for latent in live[: args.repeats]:
        for strength in (0.0, 4.0):
            clicked = time.perf_counter()
            direction = latent_direction(sae, latent, cards.card(latent).max)
            cfg = SteerConfig(strength=strength, max_new_tokens=args.tokens)
            steps = steered_generation(lm, release.hook, release.convention, lm.tokenize(PROMPT), direction, cfg)
            first = next(steps)
            first_s = time.perf_counter() - clicked
            rest = [first, *steps]
            total = time.perf_counter() - clicked
            steered = [s.steered for s in rest if s.steered is not None]
            plain = [s.plain for s in rest if s.plain is not None]
            if strength == 0:
                assert steered == plain, "strength 0 must reproduce the unsteered text"
            else:
                firsts.append(first_s)
            print(f"| {latent} | {strength:g} | {first_s:.3f} | {len(rest) / total:.1f} | {steered != plain} |")
    print(f"median first steered token {statistics.median(firsts):.3f} s (target <= 2 s on 2 cores)")


if __name__ == "__main__":
    main()
