"""What a meta-SAE's decompositions mean, for one SAE with its index: the latents' words, WordNet's judgement
of the meta-latents, the "Start here" list and the famous-people latent. One owner for the overview, the
benchmarks and the exports."""

from dataclasses import dataclass

from backend.data.lexicon import load_lexicon
from backend.index.store import IndexReader
from backend.metasae.decompose import Decompositions
from backend.metasae.semantics import TOP_EXAMPLES, Judgement, LatentWords, judge, latent_words
from backend.metasae.showcase import Showcase, famous_people, showcase
from backend.models.sae import SAE


@dataclass(frozen=True)
class Meaning:
    words: LatentWords
    judgement: Judgement
    showcase: list[Showcase]
    famous_people: int | None
    """The famous-people latent by rule (`showcase.famous_people`), or None."""


def read_words(index: IndexReader) -> LatentWords:
    """Each latent's words from its `TOP_EXAMPLES` strongest stored examples."""
    top = index.top_example_tokens(TOP_EXAMPLES)
    return latent_words({c: top[c].to_numpy() for c in top}, index.vocab, load_lexicon(), index.d_sae)


def meaning(index: IndexReader, decomps: Decompositions, meta: SAE, sae: SAE) -> Meaning:
    """Everything above for the SAE `index` belongs to, decomposed by `meta` (`decomps`)."""
    words = read_words(index)
    verdict = judge(decomps, words)
    return Meaning(words, verdict, showcase(decomps, meta, sae, words, verdict.spelling), famous_people(words))
