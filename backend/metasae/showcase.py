"""The overview's "Start here": a few decompositions worth reading first, chosen by a stated rule.

Rule (`showcase`): a latent is a *name* latent when at least `NAME_SHARE` of its `TOP_EXAMPLES`
strongest examples sit on a name (a word WordNet knows only as a name: people and places, as the
paper's "Einstein" latent does; see `data.corpus.wordnet_names`). Latents the meta-SAE splits into at least
`MIN_PARTS` meta-latents are ranked by the cosine of their decoder row with its meta-SAE
reconstruction, name latents first; they are taken greedily with no two sharing their strongest
meta-latent, so the list shows different compositions rather than five variants of one. A family
with fewer than `SHOWCASE` name latents fills the list with its other best-reconstructed ones.
"""

from dataclasses import dataclass

import numpy as np
import torch

from backend.metasae.decompose import Decompositions, reconstruction_cosines
from backend.models.sae import SAE

SHOWCASE = 5
TOP_EXAMPLES = 10
NAME_SHARE = 0.6
MIN_PARTS = 2


@dataclass(frozen=True)
class Showcase:
    latent: int
    cosine: float
    """Cosine of the latent's decoder row with its meta-SAE reconstruction."""
    parts: list[tuple[int, float]]
    """(meta-latent, activation), strongest first."""
    name: bool
    """Whether the latent's top examples are names (see the module rule)."""


def name_latents(top_tokens: np.ndarray, top_latents: np.ndarray, vocab: list[str], names: frozenset[str],
                 d_sae: int) -> np.ndarray:  # fmt: skip
    """`[d_sae]` bool: latents whose top examples (token ids `top_tokens [n]` of latents `top_latents [n]`)
    are at least `NAME_SHARE` names; a latent with fewer than `TOP_EXAMPLES // 2` examples never qualifies."""
    is_name = np.array([vocab[t].strip() in names for t in top_tokens], dtype=bool)
    hits = np.bincount(top_latents, weights=is_name, minlength=d_sae)
    counts = np.bincount(top_latents, minlength=d_sae)
    return (counts >= TOP_EXAMPLES // 2) & (hits >= NAME_SHARE * np.maximum(counts, 1))


def showcase(decomps: Decompositions, meta: SAE, sae: SAE, names: np.ndarray, n: int = SHOWCASE) -> list[Showcase]:
    """Up to `n` showcase decompositions; `names [d_sae]` marks the name latents (see the module rule)."""
    parts = {i: decomps.of_latent(i) for i in range(decomps.d_sae)}
    candidates = torch.tensor([i for i, found in parts.items() if len(found) >= MIN_PARTS], dtype=torch.long)
    if len(candidates) == 0:
        return []
    cosines = reconstruction_cosines(meta, sae, candidates)
    is_name = torch.from_numpy(names[candidates.numpy()])
    # Name latents first, each group by cosine (cosines lie in [-1, 1], so +2 puts every name ahead).
    ranking = (cosines + 2 * is_name).argsort(descending=True).tolist()
    chosen: list[Showcase] = []
    leaders: set[int] = set()
    for position in ranking:
        latent = int(candidates[position])
        leader = parts[latent][0][0]
        if leader not in leaders:
            leaders.add(leader)
            chosen.append(Showcase(latent, float(cosines[position]), parts[latent], bool(is_name[position])))
        if len(chosen) == n:
            break
    return chosen
