"""Atomicity: which latents are compositions of shared parts and which are atoms, by their meta-SAE.

Per latent: the cosine of its unit decoder row with the meta-SAE's reconstruction, and how many
meta-latents are active on it. A high cosine with several parts is a *composition* (the paper's
"Einstein" = science + famous people + German…); a low cosine means the meta-SAE cannot rebuild the
latent from parts it shares with others: an *atom* at this meta-SAE's size (or a direction it missed).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from backend.metasae.decompose import Decompositions, reconstruction_cosines
from backend.models.sae import SAE

COMPOSITION_COSINE = 0.7
"""At or above this cosine, with at least two parts, a latent counts as a composition."""
ATOM_COSINE = 0.5
"""Below this cosine a latent counts as an atom."""


@dataclass(frozen=True)
class AtomicitySummary:
    mean_cosine: float
    quartiles: tuple[float, float, float]
    compositions: float
    """Share of latents with cosine ≥ COMPOSITION_COSINE and at least two parts."""
    atoms: float
    """Share of latents with cosine < ATOM_COSINE."""
    mean_parts: float


def atomicity(decomps: Decompositions, meta: SAE, sae: SAE) -> pd.DataFrame:
    """Columns latent, meta cosine, meta parts: one row per latent of `sae`."""
    cosines = reconstruction_cosines(meta, sae, torch.arange(sae.cfg.d_sae)).numpy()
    parts = decomps.parts_per_latent().numpy()
    return pd.DataFrame({"latent": np.arange(sae.cfg.d_sae), "meta cosine": cosines, "meta parts": parts})


def summarise_atomicity(frame: pd.DataFrame) -> AtomicitySummary:
    cosine, parts = frame["meta cosine"].to_numpy(), frame["meta parts"].to_numpy()
    q1, q2, q3 = (float(q) for q in np.quantile(cosine, [0.25, 0.5, 0.75]))
    return AtomicitySummary(
        mean_cosine=float(cosine.mean()),
        quartiles=(q1, q2, q3),
        compositions=float(((cosine >= COMPOSITION_COSINE) & (parts >= 2)).mean()),
        atoms=float((cosine < ATOM_COSINE).mean()),
        mean_parts=float(parts.mean()),
    )
