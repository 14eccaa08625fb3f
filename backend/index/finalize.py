"""From a finished index state to the per-latent tables the store holds and the cards read."""

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from backend.index.state import N_INTERVALS, IndexState
from backend.models.geometry import logit_lens, nearest_rows

NEIGHBOURS = 10
LOGIT_LENS = 10
LABEL_TOKENS = 3
DEAD_LABEL = "(dead: never fired)"


def visible(token: str) -> str:
    """A token as a label shows it: trimmed, with whitespace-only tokens made visible."""
    word = token.strip()
    return word if word else token.replace("\n", "↵").replace(" ", "␣").replace("\t", "⇥") or "∅"


def auto_label(token_values: list[tuple[str, float]]) -> str:
    """The tokens a latent fires on most, by summed activation over its top examples."""
    scores: dict[str, float] = {}
    for text, value in token_values:
        scores[visible(text)] = scores.get(visible(text), 0.0) + value
    if not scores:
        return DEAD_LABEL
    ranked = sorted(scores.items(), key=lambda item: -item[1])[:LABEL_TOKENS]
    return " · ".join(word for word, _ in ranked)


def _top_examples(state: IndexState) -> pd.DataFrame:
    latent, rank = np.meshgrid(np.arange(state.d_sae), np.arange(state.top_val.shape[1]), indexing="ij")
    frame = pd.DataFrame(
        {
            "latent": latent.ravel(),
            "kind": "top",
            "interval": -1,
            "rank": rank.ravel(),
            "value": state.top_val.cpu().numpy().ravel(),
            "token": state.top_tok.cpu().numpy().ravel(),
            "window": list(state.top_win.float().cpu().numpy().reshape(-1, state.top_win.shape[-1])),
        }
    )
    return frame[frame["token"] >= 0]


def _interval_examples(state: IndexState) -> pd.DataFrame:
    slots, reservoir = state.res_tok.shape
    slot, rank = np.meshgrid(np.arange(slots), np.arange(reservoir), indexing="ij")
    frame = pd.DataFrame(
        {
            "latent": (slot // N_INTERVALS).ravel(),
            "kind": "interval",
            "interval": (slot % N_INTERVALS).ravel(),
            "rank": rank.ravel(),
            "value": state.res_val.cpu().numpy().ravel(),
            "token": state.res_tok.cpu().numpy().ravel(),
            "window": list(state.res_win.float().cpu().numpy().reshape(-1, state.res_win.shape[-1])),
        }
    )
    return frame[frame["token"] >= 0]


def finalize(
    state: IndexState, sae: torch.nn.Module, tokens: Tensor, vocab: list[str], unembed: Tensor | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per latent, one row per example) from the running state, the SAE and the corpus."""
    n_tokens = max(int(state.n_tokens), 1)
    count = state.count.cpu().numpy()
    flat_tokens = tokens.reshape(-1).numpy()
    examples = pd.concat([_top_examples(state), _interval_examples(state)], ignore_index=True)
    examples["window"] = examples["window"].map(lambda w: w.astype(np.float32))
    top_ids = state.top_tok.cpu().numpy()
    top_vals = state.top_val.cpu().numpy()
    labels, top_tokens = [], []
    for i in range(state.d_sae):
        pairs = [(vocab[flat_tokens[t]], float(v)) for t, v in zip(top_ids[i], top_vals[i], strict=True) if t >= 0]
        labels.append(auto_label(pairs))
        top_tokens.append(" ".join(dict.fromkeys(text.strip().lower() for text, _ in pairs if text.strip())))
    decoder = sae.get_parameter("W_dec").detach()
    nn_idx, nn_cos = nearest_rows(decoder, decoder, NEIGHBOURS, exclude_self=True)
    hist = state.hist.cpu().numpy()
    latents = pd.DataFrame(
        {
            "latent": np.arange(state.d_sae),
            "count": count,
            "density": count / n_tokens,
            "max": state.max.cpu().numpy(),
            "mean": state.total.cpu().numpy() / np.maximum(count, 1),
            "label": labels,
            "top_tokens": top_tokens,
            "hist_bins": [np.nonzero(row)[0].astype(np.int16) for row in hist],
            "hist_counts": [row[row > 0] for row in hist],
            "nn_latent": list(nn_idx.cpu().numpy().astype(np.int32)),
            "nn_cos": list(nn_cos.cpu().numpy()),
        }
    )
    if unembed is not None:
        lens = logit_lens(decoder, unembed.to(decoder.device), LOGIT_LENS)
        for key, values in lens.items():
            latents[f"lens_{key}"] = list(values.cpu().numpy())
    return latents, examples
