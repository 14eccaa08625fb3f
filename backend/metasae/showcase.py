"""The overview's "Start here": a few decompositions worth reading first, chosen by a stated rule.

Rule (`showcase`), over what each latent's top examples are (`semantics.LatentWords`) and which
meta-latents are spelling groups (`semantics.Judgement`):
- a latent is a *person* latent when people's and places' names make up at least `NAME_SHARE` of its top
  examples and people's outweigh places' (noun.person instances WordNet knows only as names: Einstein, Stalin;
  each name counted by the share of its senses that name a person or a place, `Lexicon.name_shares`); a
  *place* latent when places outweigh people; else *other*;
- spelling latents (mostly pieces of words) are never shown;
- a latent qualifies with at least `MIN_PARTS` *concept parts*: active meta-latents that are not
  spelling groups;
- ranked: reconstruction cosine ≥ `MIN_COSINE` before below it; then people, places, others; then by
  cosine (ties to the lower latent id, so the order never depends on the machine's sort);
- taken greedily: none shares its strongest concept part with one taken before, and no meta-latent is a
  part of more than `MAX_SHARED` of the chosen, so the list shows different compositions, not one
  catch-all meta-latent five times.

`famous_people` is the family's famous-people latent by rule: the most distinct people's names among its
stored top examples (ties to the higher share of names, then the lower id).
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from backend.metasae.decompose import Decompositions, reconstruction_cosines
from backend.metasae.semantics import LatentWords
from backend.models.sae import SAE

SHOWCASE = 5
NAME_SHARE = 0.6
MIN_PARTS = 2
MIN_COSINE = 0.7
MAX_SHARED = 2
Kind = Literal["person", "place", "other"]
_KIND_ORDER: dict[Kind, int] = {"person": 0, "place": 1, "other": 2}


@dataclass(frozen=True)
class Showcase:
    latent: int
    cosine: float
    """Cosine of the latent's decoder row with its meta-SAE reconstruction."""
    parts: list[tuple[int, float]]
    """(meta-latent, activation) of its concept parts, strongest first."""
    kind: Kind


def latent_kinds(words: LatentWords) -> list[Kind]:
    """Each latent's kind by the module rule."""
    named = words.people + words.places
    kinds: list[Kind] = []
    for people, places, total in zip(words.people, words.places, named, strict=True):
        if total >= NAME_SHARE and people > places:
            kinds.append("person")
        elif total >= NAME_SHARE and places > people:
            kinds.append("place")
        else:
            kinds.append("other")
    return kinds


def showcase(
    decomps: Decompositions, meta: SAE, sae: SAE, words: LatentWords, spelling_meta: np.ndarray, n: int = SHOWCASE
) -> list[Showcase]:
    """Up to `n` showcase decompositions (see the module rule); `spelling_meta [n_meta]` marks spelling groups."""
    kinds = latent_kinds(words)
    parts: dict[int, list[tuple[int, float]]] = {}
    for latent in np.flatnonzero(~words.spelling & (words.examples > 0)).tolist():
        concept = [(m, v) for m, v in decomps.of_latent(latent) if not spelling_meta[m]]
        if len(concept) >= MIN_PARTS:
            parts[latent] = concept
    if not parts:
        return []
    candidates = torch.tensor(sorted(parts), dtype=torch.long)
    cosines = reconstruction_cosines(meta, sae, candidates).tolist()
    ranking = sorted(
        zip(candidates.tolist(), cosines, strict=True),
        key=lambda lc: (lc[1] < MIN_COSINE, _KIND_ORDER[kinds[lc[0]]], -round(lc[1], 4), lc[0]),
    )
    chosen: list[Showcase] = []
    leaders: set[int] = set()
    uses: dict[int, int] = {}
    for latent, cosine in ranking:
        found = parts[latent]
        if found[0][0] in leaders or any(uses.get(m, 0) >= MAX_SHARED for m, _ in found):
            continue
        leaders.add(found[0][0])
        for m, _ in found:
            uses[m] = uses.get(m, 0) + 1
        chosen.append(Showcase(latent, cosine, found, kinds[latent]))
        if len(chosen) == n:
            break
    return chosen


def famous_people(words: LatentWords) -> int | None:
    """The latent whose top examples name the most distinct people (None when none names two)."""
    if not len(words.distinct_people) or words.distinct_people.max() < 2:
        return None
    order = np.lexsort((np.arange(len(words.people)), -words.people, -words.distinct_people))
    return int(order[0])
