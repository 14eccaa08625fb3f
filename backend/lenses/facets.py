"""Facets of a latent (after PRISM, Kopf et al. 2025, without an LLM): the distinct contexts it fires in.

A latent's interval examples (uniform samples of its firing at every strength, backend/index/state.py) are
clustered by their context: the mean residual-stream activation at the hook over the `WINDOW` tokens up to and
including the example's token, centred on the mean over all examples of the SAE. Average-linkage clustering on
cosine distance, cut at `FACET_DISTANCE`, gives the groups; a *facet* is a group holding at least `MIN_SHARE` of
the latent's firing (examples weighted by the tokens they stand for). Each facet is labelled by its most common
tokens. One facet: monosemantic by this measure; several: the latent fires in several kinds of context.
"""

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from torch import Tensor

WINDOW = 8
FACET_DISTANCE = 0.8
"""Cosine distance at which the clustering is cut (benchmarks/bench_lenses.py sweeps it)."""
MIN_SHARE = 0.1
MIN_EXAMPLES = 6
"""A latent with fewer examples is one facet: too few to split."""
LABEL_TOKENS = 3


def context_vectors(acts: Tensor, positions: np.ndarray) -> np.ndarray:
    """`[n, d]` centred mean activations over the window ending at each flat position of `positions` in the
    contexts of `acts [n_ctx, seq, d]` (BOS, at offset 0, is left out of every window)."""
    prefix = acts.float().cumsum(dim=1)
    prefix -= acts[:, :1].float()  # prefix[c, p] sums offsets 1..p
    flat = prefix.reshape(-1, prefix.shape[-1])
    where = torch.from_numpy(np.array(positions, dtype=np.int64))
    offset = where % acts.shape[1]
    start = (offset - WINDOW).clamp_min(0)
    total = flat.index_select(0, where) - flat.index_select(0, where - offset + start)
    mean = total / (offset - start).clamp_min(1)[:, None]
    # Centred in torch: numpy's column mean of a [600k, 576] array takes about 18 s here, torch's 0.1 s.
    return (mean - mean.mean(dim=0, keepdim=True)).numpy() if len(mean) else mean.numpy()


def latent_facets(vectors: np.ndarray, weights: np.ndarray, tokens: list[str]) -> list[tuple[float, str, int]]:
    """(share of firing, label, examples) of each facet of one latent, largest first; groups under `MIN_SHARE`
    are left out, so the shares may sum to less than 1."""
    total = weights.sum()
    if len(vectors) < MIN_EXAMPLES or total <= 0:
        return [(1.0, _label(tokens, weights), len(vectors))]
    groups = fcluster(linkage(vectors, method="average", metric="cosine"), FACET_DISTANCE, criterion="distance")
    found = []
    for group in np.unique(groups):
        member = groups == group
        share = float(weights[member].sum() / total)
        if share >= MIN_SHARE:
            found.append(
                (
                    share,
                    _label([t for t, m in zip(tokens, member, strict=True) if m], weights[member]),
                    int(member.sum()),
                )
            )
    return sorted(found, reverse=True) or [(1.0, _label(tokens, weights), len(vectors))]


def _label(tokens: list[str], weights: np.ndarray) -> str:
    totals: dict[str, float] = {}
    for token, weight in zip(tokens, weights.tolist(), strict=True):
        shown = token.strip() or repr(token)
        totals[shown] = totals.get(shown, 0.0) + weight
    return " · ".join(sorted(totals, key=lambda t: -totals[t])[:LABEL_TOKENS])


def facet_table(samples: pd.DataFrame, vectors: np.ndarray, token_strings: list[str]) -> pd.DataFrame:
    """One row per facet: latent, facet (0 = largest), share, label, examples. `samples` has columns latent and
    weight (the index's interval samples), aligned with `vectors [n, d]` and `token_strings`."""
    rows = []
    order = np.argsort(samples["latent"].to_numpy(), kind="stable")
    latents = samples["latent"].to_numpy()[order]
    weights = samples["weight"].to_numpy()[order]
    bounds = np.flatnonzero(np.diff(latents)) + 1
    for chunk in np.split(np.arange(len(order)), bounds):
        if not len(chunk):
            continue
        picked = order[chunk]
        facets = latent_facets(vectors[picked], weights[chunk], [token_strings[i] for i in picked])
        for number, (share, label, examples) in enumerate(facets):
            rows.append(
                {
                    "latent": int(latents[chunk[0]]),
                    "facet": number,
                    "share": share,
                    "label": label,
                    "examples": examples,
                }
            )
    return pd.DataFrame(rows, columns=["latent", "facet", "share", "label", "examples"])
