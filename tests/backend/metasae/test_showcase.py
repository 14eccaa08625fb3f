"""The "Start here" rule: people, places and others from their names, concept parts only, diverse parts."""

import numpy as np
import torch

from backend.metasae.decompose import build_decompositions, reconstruction_cosines
from backend.metasae.semantics import NO_CATEGORY, LatentWords
from backend.metasae.showcase import MAX_SHARED, MIN_COSINE, MIN_PARTS, famous_people, latent_kinds, showcase
from backend.models.sae import SAE, SAEConfig


def _words(people: list[float], places: list[float], spelling: list[bool] | None = None) -> LatentWords:
    n = len(people)
    return LatentWords(
        category=np.full(n, NO_CATEGORY),
        word_pieces=np.array([1.0 if s else 0.0 for s in (spelling or [False] * n)]),
        people=np.array(people),
        places=np.array(places),
        distinct_people=np.round(np.array(people) * 10),
        examples=np.full(n, 10.0),
    )


def test_people_places_and_others_by_their_names() -> None:
    # Mostly people; mostly places; names split evenly; too few names; half names, people ahead.
    words = _words([0.8, 0.1, 0.3, 0.2, 0.35], [0.1, 0.7, 0.3, 0.1, 0.25])
    assert latent_kinds(words) == ["person", "place", "other", "other", "person"]


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


def test_showcase_puts_people_first_each_group_by_cosine_one_per_leader() -> None:
    meta, sae = _family()
    decomps = build_decompositions(meta, sae)
    # Latents 1 and 2 are people, 0 a place; the rest other.
    words = _words([0, 0.9, 0.8, 0, 0, 0, 0, 0], [0.9, 0, 0, 0, 0, 0, 0, 0])
    chosen = showcase(decomps, meta, sae, words, np.zeros(6, dtype=bool), n=4)
    kinds = [item.kind for item in chosen]
    good = [item for item in chosen if item.cosine >= MIN_COSINE]
    assert [item.kind for item in good] == sorted((item.kind for item in good), key=["person", "place", "other"].index)
    assert kinds[:2] == ["person", "person"]
    assert len({item.parts[0][0] for item in chosen}) == len(chosen)
    assert all(len(item.parts) >= MIN_PARTS for item in chosen)
    for item in chosen:
        assert abs(item.cosine - float(reconstruction_cosines(meta, sae, torch.tensor([item.latent]))[0])) < 1e-6
    # Latent 3 is one meta direction alone: never a showcase, whatever its cosine.
    assert 3 not in [item.latent for item in chosen]


def test_spelling_latents_and_spelling_parts_never_count() -> None:
    meta, sae = _family()
    decomps = build_decompositions(meta, sae)
    words = _words([0.9, 0.9, 0, 0, 0, 0, 0, 0], [0] * 8, spelling=[True] + [False] * 7)
    spelling_meta = np.zeros(6, dtype=bool)
    spelling_meta[[1, 2]] = True  # latent 1 (atoms 0 + 2, a little of 1) is left with one concept part
    chosen = showcase(decomps, meta, sae, words, spelling_meta, n=4)
    assert {0, 1}.isdisjoint(item.latent for item in chosen)
    assert chosen and all({1, 2}.isdisjoint(dict(item.parts)) for item in chosen)


def test_no_meta_latent_is_a_part_of_more_than_two() -> None:
    meta, sae = _family()
    with torch.no_grad():  # six latents that all contain meta-latent 5, each with another part
        atoms = meta.W_dec
        sae.W_dec[:6] = torch.stack([atoms[i] + atoms[5] for i in range(5)] + [atoms[0] + 0.9 * atoms[5]])
    decomps = build_decompositions(meta, sae)
    chosen = showcase(decomps, meta, sae, _words([0] * 8, [0] * 8), np.zeros(6, dtype=bool), n=5)
    counts = np.bincount([m for item in chosen for m, _ in item.parts], minlength=6)
    assert counts.max() <= MAX_SHARED and len(chosen) >= 2


def test_the_famous_people_latent_names_the_most_people() -> None:
    words = _words([0.9, 0.2, 0.6], [0, 0, 0])
    assert famous_people(words) == 0
    assert famous_people(_words([0.1, 0.0], [0, 0])) is None


def test_batched_cosines_equal_one_at_a_time() -> None:
    meta, sae = _family()
    batched = reconstruction_cosines(meta, sae, torch.arange(8))
    single = torch.cat([reconstruction_cosines(meta, sae, torch.tensor([i])) for i in range(8)])
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
