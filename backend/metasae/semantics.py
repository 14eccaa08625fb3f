"""Do a meta-SAE's groups mean something? WordNet judges, not the reconstruction error.

What a latent is about is read from the tokens of its `TOP_EXAMPLES` strongest examples:
- its *category*: the WordNet lexicographer category (noun.person, noun.location, noun.food, ...) that
  most of those tokens' synsets are in (`data.lexicon`), when at least `MIN_WORDS` of them are WordNet
  words; otherwise it has none (fragments, numbers, function words);
- whether it is a *spelling* latent: at least `SPELLING_SHARE` of its examples sit on a piece of a word: an
  alphabetic token that the next token continues (" con" of " confusion") or that continues the one before
  ("instein" of "Einstein"); a piece is never read as a word, so " con" there is not the verb "con"; but a
  piece that spells a name with its neighbour (" Sh" + "akespeare") counts as that name, not as spelling;
- its shares of people's and places' names (`Lexicon.name_shares`: a name counts by the share of its synsets
  that name a person or a place, so "Jupiter" (god and planet) counts half a person, "Paris" a third).

Measures of a meta-SAE (`judge`):
- *category agreement*: over each meta-latent's `MEMBERS` strongest members that have a category, the
  fraction of member pairs with the same category; its random baseline is the chance that two latents
  drawn at random (without replacement) from all latents with a category share one. The ratio is the
  figure: 1 means the meta-latents group latents no better than chance, by WordNet's judgement.
- *catch-all* meta-latents: the share of latents whose decomposition contains each meta-latent, against
  the share if every meta-latent were used equally (mean parts / meta-latents); a meta-latent used
  `CATCH_ALL_MULTIPLE` times more than that is a catch-all.
- a meta-latent is a *spelling* group when at least half of its strongest members are spelling latents.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from backend.data.lexicon import LEXNAMES, Lexicon
from backend.metasae.decompose import Decompositions

TOP_EXAMPLES = 10
MIN_WORDS = 5
SPELLING_SHARE = 0.5
MEMBERS = 8
CATCH_ALL_MULTIPLE = 4.0
NO_CATEGORY = -1


@dataclass(frozen=True)
class LatentWords:
    """What each latent's top-example tokens are (see the module rules). Arrays are `[d_sae]`."""

    category: np.ndarray
    """Lexicographer file number (index into LEXNAMES), NO_CATEGORY when too few tokens are words."""
    word_pieces: np.ndarray
    """Share of the latent's top tokens that are pieces of words."""
    people: np.ndarray
    """Share that are people's names (each counted by `Lexicon.name_shares`)."""
    places: np.ndarray
    """Share that are places' names (likewise)."""
    distinct_people: np.ndarray
    """How many different people's names its top examples are (each counted by its person share)."""
    examples: np.ndarray
    """How many top examples were read (a latent that never fired has none)."""

    @property
    def spelling(self) -> np.ndarray:
        return (self.examples > 0) & (self.word_pieces >= SPELLING_SHARE)

    def category_name(self, latent: int) -> str | None:
        lex = int(self.category[latent])
        return None if lex == NO_CATEGORY else LEXNAMES[lex]


def _token_facts(token: str, lexicon: Lexicon) -> tuple[Counter[int], float, float]:
    """(categories, how much a person's name, how much a place's name) of one vocabulary string as a whole word."""
    word = token.strip()
    return (lexicon.categories(word), *lexicon.name_shares(word))


def pieces_of_words(tokens: np.ndarray, previous: np.ndarray, following: np.ndarray, vocab: list[str]) -> np.ndarray:
    """`[n]` bool: whether each example token is a piece of a longer word (see the module rule)."""

    def alpha(ids: np.ndarray) -> np.ndarray:
        return np.array([i >= 0 and vocab[i].strip().isalpha() for i in ids.tolist()], dtype=bool)

    def glued(ids: np.ndarray) -> np.ndarray:
        """Tokens that start without a space (they continue whatever comes before them)."""
        return np.array([i >= 0 and not vocab[i][:1].isspace() for i in ids.tolist()], dtype=bool)

    here = alpha(tokens)
    continued = alpha(following) & glued(following)
    continues = glued(tokens) & alpha(previous)
    return here & (continued | continues)


def _piece_of_name(vocab: list[str], before: int, token: int, after: int, lexicon: Lexicon) -> tuple[str, float, float]:
    """The name a piece spells with its neighbour (" Sh" + "akespeare") and its shares, else ("", 0, 0)."""
    for joined in (
        vocab[token] + vocab[after] if after >= 0 else "",
        vocab[before] + vocab[token] if before >= 0 else "",
    ):
        person, place = lexicon.name_shares(joined.strip())
        if person or place:
            return joined.strip(), person, place
    return "", 0.0, 0.0


def latent_words(top: dict[str, np.ndarray], vocab: list[str], lexicon: Lexicon, d_sae: int) -> LatentWords:
    """`top`: arrays `latent`, `token`, `previous`, `next` [n] of each latent's strongest `TOP_EXAMPLES`
    examples or fewer, vocabulary ids, -1 beyond the context (`IndexReader.top_example_tokens`)."""
    top_latents, top_tokens = top["latent"], top["token"]
    piece_of = pieces_of_words(top_tokens, top["previous"], top["next"], vocab)
    facts = {int(t): _token_facts(vocab[int(t)], lexicon) for t in np.unique(top_tokens)}
    votes = np.zeros((d_sae, len(LEXNAMES)))
    words = np.zeros(d_sae)
    pieces, people, places = np.zeros(d_sae), np.zeros(d_sae), np.zeros(d_sae)
    examples = np.bincount(top_latents, minlength=d_sae).astype(float)
    named: dict[tuple[int, str], float] = {}
    rows = zip(top_tokens.tolist(), top_latents.tolist(), piece_of.tolist(), top["previous"].tolist(),
               top["next"].tolist(), strict=True)  # fmt: skip
    for token, latent, piece, before, after in rows:
        cats, person, place = facts[token]
        name = vocab[token].strip()
        if piece:
            name, person, place = _piece_of_name(vocab, before, token, after, lexicon)
            if not person and not place:
                pieces[latent] += 1
                continue
            cats = Counter()
        if cats:
            total = sum(cats.values())
            for lex, count in cats.items():
                votes[latent, lex] += count / total
            words[latent] += 1
        people[latent] += person
        if person:
            named[(latent, name)] = person
        places[latent] += place
    category = np.where(words >= MIN_WORDS, votes.argmax(axis=1), NO_CATEGORY)
    seen = np.maximum(examples, 1)
    distinct = np.zeros(d_sae)
    for (latent, _), weight in named.items():
        distinct[latent] += weight
    return LatentWords(category, pieces / seen, people / seen, places / seen, distinct, examples)


def strongest_members(decomps: Decompositions, meta_latent: int, keep: np.ndarray, n: int = MEMBERS) -> list[int]:
    """The `n` strongest member latents of `meta_latent` among those marked in `keep [d_sae]`."""
    return [latent for latent, _ in decomps.members(meta_latent) if keep[latent]][:n]


def meta_shares(decomps: Decompositions) -> np.ndarray:
    """`[n_meta]` share of latents whose decomposition (at the release threshold) contains each meta-latent."""
    active = decomps.active().numpy()
    latents_with = np.zeros(decomps.n_meta)
    pairs = np.unique(np.stack([decomps.latent.numpy()[active], decomps.meta.numpy()[active]]), axis=1)
    np.add.at(latents_with, pairs[1], 1)
    return latents_with / max(1, decomps.d_sae)


def uniform_share(decomps: Decompositions) -> float:
    """The share each meta-latent would have if all were used equally: mean parts per latent / meta-latents."""
    return float(decomps.parts_per_latent().float().mean()) / max(1, decomps.n_meta)


def spelling_meta_latents(decomps: Decompositions, words: LatentWords) -> np.ndarray:
    """`[n_meta]` bool: meta-latents at least half of whose strongest members are spelling latents."""
    live = words.examples > 0
    out = np.zeros(decomps.n_meta, dtype=bool)
    for j in range(decomps.n_meta):
        members = strongest_members(decomps, j, live)
        out[j] = bool(members) and float(np.mean(words.spelling[members])) >= 0.5
    return out


def _agreement(categories: np.ndarray) -> float:
    """Fraction of pairs of `categories [n]` that are equal (n >= 2)."""
    counts = np.bincount(categories)
    n = len(categories)
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


@dataclass(frozen=True)
class Judgement:
    """A meta-SAE judged by WordNet (see the module docstring)."""

    agreement: float
    agreement_random: float
    judged_meta_latents: int
    """Meta-latents with at least two members that have a category."""
    shares: np.ndarray
    """`[n_meta]` share of latents containing each meta-latent."""
    uniform: float
    spelling: np.ndarray
    """`[n_meta]` bool: spelling groups."""

    @property
    def ratio(self) -> float:
        return self.agreement / self.agreement_random if self.agreement_random > 0 else float("nan")

    @property
    def catch_all(self) -> np.ndarray:
        """`[n_meta]` bool: meta-latents used at least CATCH_ALL_MULTIPLE times the uniform share."""
        return self.shares >= CATCH_ALL_MULTIPLE * self.uniform

    def most_used(self, n: int = 5) -> list[int]:
        """The `n` meta-latents in the most decompositions, most first (ties to the lower id)."""
        return np.lexsort((np.arange(len(self.shares)), -self.shares))[:n].tolist()

    def summary(self) -> dict[str, float]:
        top = self.most_used()
        return {
            "category_agreement": self.agreement,
            "category_agreement_random": self.agreement_random,
            "category_agreement_ratio": self.ratio,
            "judged_meta_latents": float(self.judged_meta_latents),
            "catch_all_meta_latents": float(self.catch_all.sum()),
            "spelling_meta_latents": float(self.spelling.sum()),
            "most_used_share": float(self.shares[top[0]]) if top else 0.0,
            "uniform_share": self.uniform,
            "spelling_among_most_used": float(self.spelling[top].sum()) if top else 0.0,
        }


def judge(decomps: Decompositions, words: LatentWords) -> Judgement:
    """Category agreement of every meta-latent's members against chance, usage shares and spelling groups."""
    has = words.category != NO_CATEGORY
    scores = []
    for j in range(decomps.n_meta):
        members = strongest_members(decomps, j, has)
        if len(members) >= 2:
            scores.append(_agreement(words.category[members]))
    pool = words.category[has]
    return Judgement(
        agreement=float(np.mean(scores)) if scores else float("nan"),
        agreement_random=_agreement(pool) if len(pool) >= 2 else float("nan"),
        judged_meta_latents=len(scores),
        shares=meta_shares(decomps),
        uniform=uniform_share(decomps),
        spelling=spelling_meta_latents(decomps, words),
    )
