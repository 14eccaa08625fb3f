"""WordNet's judgement of meta-latents on a planted dictionary: groups by category, a catch-all, a spelling group."""

import numpy as np
import torch

from backend.data.lexicon import load_lexicon
from backend.metasae.decompose import build_decompositions
from backend.metasae.semantics import NO_CATEGORY, judge, latent_words
from backend.models.sae import SAE, SAEConfig

GROUP_TOKENS = ([" apple", " bread", " cheese", " butter"], [" Einstein", " Stalin", " Lenin", " Aristotle"],
                ["aqu", "instein", "ott", "ench"])  # fmt: skip
"""Group 0 fires on foods, group 1 on people, group 2 on pieces of words."""
PER_GROUP = 10
CATCH_ALL = 11


def planted(shuffle_words: bool = False) -> tuple[SAE, SAE, dict[str, np.ndarray], list[str]]:
    """A meta-SAE of 12 near-orthogonal atoms; each of 30 latents is its group's atom plus atom 11 (in every
    latent: a catch-all); each latent's top examples are its group's tokens (shuffled across latents on demand)."""
    gen = torch.Generator().manual_seed(0)
    atoms = torch.linalg.qr(torch.randn(32, 12, generator=gen))[0].T  # orthonormal rows
    meta = SAE(SAEConfig(d_in=32, d_sae=12, architecture="jumprelu"), device=torch.device("cpu"))
    sae = SAE(SAEConfig(d_in=32, d_sae=3 * PER_GROUP), device=torch.device("cpu"))
    groups = np.repeat(np.arange(3), PER_GROUP)
    with torch.no_grad():
        meta.W_enc.copy_(atoms.T)
        meta.W_dec.copy_(atoms)
        meta.threshold.fill_(0.2)
        noise = 0.05 * torch.randn(len(groups), 32, generator=gen)
        sae.W_dec.copy_(atoms[torch.from_numpy(groups)] + 0.8 * atoms[CATCH_ALL] + noise)
    vocab = [token for group in GROUP_TOKENS for token in group]
    word_groups = np.random.default_rng(0).permutation(groups) if shuffle_words else groups
    tokens = np.concatenate([4 * g + np.arange(PER_GROUP) % 4 for g in word_groups])
    # Group 2's tokens continue the word before them (" apple" + "aqu"): pieces; the others stand alone.
    previous = np.where(tokens >= 8, 0, -1)
    top = {"latent": np.repeat(np.arange(len(groups)), PER_GROUP), "token": tokens, "previous": previous,
           "next": np.full(len(tokens), -1)}  # fmt: skip
    return meta, sae, top, vocab


def test_a_token_is_a_piece_when_its_word_goes_on_before_or_after_it() -> None:
    from backend.metasae.semantics import pieces_of_words

    vocab = [" con", "fusion", " the", "E", "instein", " Einstein", "."]
    tokens, previous, following = np.array([0, 4, 2, 5, 5]), np.array([-1, 3, -1, 2, 2]), np.array([1, -1, 5, 6, 1])
    # " con" + "fusion"; "E" + "instein"; " the" before a word; " Einstein" before "."; " Einstein" + "fusion".
    assert pieces_of_words(tokens, previous, following, vocab).tolist() == [True, True, False, False, True]


def test_a_piece_that_spells_a_name_with_its_neighbour_counts_as_the_name() -> None:
    vocab = [" Ein", "stein", " con", "fusion", "."]
    # " Ein" + "stein" (Einstein) twice, " con" + "fusion" once: two thirds a person, one third spelling.
    top = {"latent": np.zeros(3, dtype=np.int64), "token": np.array([0, 1, 2]), "previous": np.array([-1, 0, -1]),
           "next": np.array([1, 4, 3])}  # fmt: skip
    words = latent_words(top, vocab, load_lexicon(), 1)
    assert abs(words.people[0] - 2 / 3) < 1e-9 and abs(words.word_pieces[0] - 1 / 3) < 1e-9
    assert words.distinct_people[0] == 1  # one person, spelled by two pieces


def test_latents_get_the_category_of_their_words_and_pieces_are_spelling() -> None:
    _, _, top, vocab = planted()
    words = latent_words(top, vocab, load_lexicon(), 3 * PER_GROUP)
    assert {words.category_name(i) for i in range(PER_GROUP)} == {"noun.food"}
    assert {words.category_name(i) for i in range(PER_GROUP, 2 * PER_GROUP)} == {"noun.person"}
    assert (words.category[2 * PER_GROUP :] == NO_CATEGORY).all()
    assert words.spelling.tolist() == [False] * 2 * PER_GROUP + [True] * PER_GROUP
    assert (words.people[PER_GROUP : 2 * PER_GROUP] == 1).all() and (words.people[:PER_GROUP] == 0).all()
    assert (words.distinct_people[PER_GROUP : 2 * PER_GROUP] == 4).all()


def test_grouping_by_category_beats_chance_and_the_catch_all_and_spelling_group_are_found() -> None:
    meta, sae, top, vocab = planted()
    decomps = build_decompositions(meta, sae)
    verdict = judge(decomps, latent_words(top, vocab, load_lexicon(), sae.cfg.d_sae))
    # Meta-latents 0 and 1 group one category each (agreement 1); the catch-all mixes both (about chance).
    assert verdict.judged_meta_latents == 3
    assert verdict.agreement > 0.8 and 0.4 < verdict.agreement_random < 0.5 and verdict.ratio > 1.6
    assert np.flatnonzero(verdict.catch_all).tolist() == [CATCH_ALL]
    assert np.flatnonzero(verdict.spelling).tolist() == [2]
    assert verdict.most_used()[0] == CATCH_ALL and abs(verdict.shares[CATCH_ALL] - 1) < 1e-9


def test_the_same_meta_latents_over_shuffled_words_are_at_chance() -> None:
    meta, sae, top, vocab = planted(shuffle_words=True)
    verdict = judge(build_decompositions(meta, sae), latent_words(top, vocab, load_lexicon(), 30))
    assert verdict.ratio < 1.3
