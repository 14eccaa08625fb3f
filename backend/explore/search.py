"""Finding latents: by label or top token in the index table, and by running the model on typed text."""

from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from backend.models.language import LanguageModel
from backend.models.sae import SAE
from backend.sources.release import Release


def search_table(table: pd.DataFrame, query: str, limit: int = 50) -> pd.DataFrame:
    """Latents whose label or top tokens contain `query` (case-insensitive), best first.

    Score: a whole label word equal to the query beats a label substring, which beats a match in
    the top tokens only; ties go to the denser latent.
    """
    q = query.strip().lower()
    if not q:
        return table.head(0)
    label = table["label"].str.lower()
    words = label.str.split(r"\s*·\s*", regex=True)
    exact = words.map(lambda ws: q in ws)
    in_label = label.str.contains(q, regex=False)
    in_tokens = table["top_tokens"].str.contains(q, regex=False) if "top_tokens" in table else in_label
    score = exact.astype(int) * 4 + in_label.astype(int) * 2 + in_tokens.astype(int)
    hits = table.assign(score=score)[score > 0]
    return hits.sort_values(["score", "density"], ascending=[False, False]).head(limit)


@dataclass(frozen=True)
class TextActivations:
    tokens: list[str]
    """Tokens of the typed text (BOS excluded)."""
    acts: Tensor
    """`[n_tokens, d_sae]` latent activations at each token."""


@torch.no_grad()
def encode_text(lm: LanguageModel, sae: SAE, release: Release, text: str) -> TextActivations:
    ids = lm.tokenize(text, prepend_bos=True).unsqueeze(0)
    hidden = lm.activations(ids, release.hook, release.convention)[0, 1:]
    return TextActivations(lm.token_strings(ids[0, 1:].tolist()), sae.encode(hidden.to(sae.device)).cpu())


def rank_latents(acts: Tensor, position: int | None = None, limit: int = 20) -> list[tuple[int, float]]:
    """Latents by activation at `position`, or by their maximum over the text when None."""
    scores = acts.max(dim=0).values if position is None else acts[position]
    values, idx = scores.topk(min(limit, len(scores)))
    return [(int(i), float(v)) for i, v in zip(idx, values, strict=True) if v > 0]


def per_token_top(acts: Tensor, n: int = 3) -> list[list[tuple[int, float]]]:
    """For each token, its `n` most active latents."""
    return [rank_latents(acts, pos, n) for pos in range(len(acts))]
