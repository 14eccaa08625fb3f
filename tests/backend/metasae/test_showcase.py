"""The "Start here" rule: names detected from top examples, ranked by reconstruction cosine, one per leader."""

import numpy as np
import torch

from backend.data.corpus import wordnet_names
from backend.metasae.decompose import build_decompositions, reconstruction_cosine, reconstruction_cosines
from backend.metasae.showcase import MIN_PARTS, name_latents, showcase
from backend.models.sae import SAE, SAEConfig


def test_names_are_words_wordnet_knows_only_as_names() -> None:
    names = wordnet_names()
    assert {"Einstein", "Lincoln", "Germany", "Aristotle", "Paris"} <= names
    # Sentence capitals and capitalised common words: WordNet also writes them in lower case.
    assert not {"The", "This", "When", "And", "Man", "South", "Act", "einstein"} & names
    people = wordnet_names(people_only=True)
    assert {"Einstein", "Lincoln", "Stalin"} <= people and not {"Greece", "Texas", "Europe"} & people


def test_a_latent_qualifies_when_most_top_examples_are_names() -> None:
    vocab = [" Einstein", " Lincoln", " the", " river", " Paris"]
    names = frozenset({"Einstein", "Lincoln", "Paris"})
    # Latent 0: 8 of 10 names; latent 1: 3 of 10; latent 2: only 2 examples (too few to judge).
    tokens = np.array([0, 1, 4, 0, 1, 4, 0, 1, 2, 3] + [0, 1, 4] + [2] * 7 + [0, 1])
    latents = np.array([0] * 10 + [1] * 10 + [2] * 2)
    assert name_latents(tokens, latents, vocab, names, 3).tolist() == [True, False, False]


def _family() -> tuple[SAE, SAE]:
    """An SAE whose rows are sums of two meta directions (well reconstructed) or noise (poorly)."""
    gen = torch.Generator().manual_seed(0)
    atoms = torch.randn(6, 16, generator=gen)
    atoms /= atoms.norm(dim=1, keepdim=True)
    meta = SAE(SAEConfig(d_in=16, d_sae=6, architecture="jumprelu"), device=torch.device("cpu"))
    sae = SAE(SAEConfig(d_in=16, d_sae=8), device=torch.device("cpu"))
    with torch.no_grad():
        meta.W_enc.copy_(atoms.T)
        meta.W_dec.copy_(atoms)
        meta.threshold.fill_(0.2)
        rows = torch.stack([atoms[0] + atoms[1], atoms[0] + atoms[2], atoms[3] + 0.9 * atoms[4], atoms[5]])
        sae.W_dec.copy_(torch.cat([rows, torch.randn(4, 16, generator=gen)]))
    return meta, sae


def test_showcase_puts_name_latents_first_each_group_by_cosine_one_per_leader() -> None:
    meta, sae = _family()
    decomps = build_decompositions(meta, sae)
    names = np.zeros(8, dtype=bool)
    names[[1, 2]] = True
    chosen = showcase(decomps, meta, sae, names, n=4)
    flags = [item.name for item in chosen]
    assert flags == sorted(flags, reverse=True) and flags[:2] == [True, True]
    for group in (True, False):
        cosines = [item.cosine for item in chosen if item.name == group]
        assert cosines == sorted(cosines, reverse=True)
    assert len({item.parts[0][0] for item in chosen}) == len(chosen)
    assert all(len(item.parts) >= MIN_PARTS for item in chosen)
    for item in chosen:
        assert abs(item.cosine - reconstruction_cosine(meta, sae, item.latent)) < 1e-6
    # Latent 3 is one meta direction alone: never a showcase, whatever its cosine.
    assert 3 not in [item.latent for item in chosen]


def test_batched_cosines_equal_one_at_a_time() -> None:
    meta, sae = _family()
    batched = reconstruction_cosines(meta, sae, torch.arange(8))
    single = torch.tensor([reconstruction_cosine(meta, sae, i) for i in range(8)])
    assert torch.allclose(batched, single, atol=1e-6)


def test_a_latent_built_from_meta_directions_is_a_composition_and_noise_is_an_atom() -> None:
    from backend.metasae.atomicity import COMPOSITION_COSINE, atomicity, summarise_atomicity

    meta, sae = _family()
    frame = atomicity(build_decompositions(meta, sae), meta, sae)
    # Latent 2 is atoms[3] + 0.9 atoms[4], a sum of two meta-decoder rows: rebuilt exactly, from two parts.
    assert frame.loc[2, "meta cosine"] > 0.999 and frame.loc[2, "meta parts"] == 2
    # Latent 0 (atoms[0] + atoms[1]; the random atoms overlap a little) is still a composition.
    assert frame.loc[0, "meta cosine"] > 0.95 and frame.loc[0, "meta parts"] >= 2
    # Latents 4-7 are random directions in 16 dimensions: none is rebuilt that well.
    assert (frame.loc[4:, "meta cosine"] < COMPOSITION_COSINE).all()
    summary = summarise_atomicity(frame)
    assert summary.compositions >= 3 / 8 and summary.quartiles[0] <= summary.quartiles[2]
