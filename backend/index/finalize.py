"""From a finished index state to the per-latent tables the store holds and the cards read."""

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch import Tensor

from backend.index.state import N_INTERVALS, WINDOW, IndexState
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


def _examples(state: IndexState) -> pa.Table:
    """Every example the state holds, in the store's columns (latent, kind, interval, rank, value, token, window)
    and order (by latent; then its interval examples, by interval and rank, before its top ones, by rank), made
    from the state's tensors as they are: a full SAE-24,576 state holds 4.5 million, and a Python object per
    example (a frame row, a window array) cost 13.8 s to make, sort and write."""
    k, r = state.top_tok.shape[1], state.res_tok.shape[1]
    token = torch.cat([state.res_tok.ravel(), state.top_tok.ravel()])
    n_res = state.res_tok.numel()
    slot = (token >= 0).nonzero().squeeze(1)  # slots no example has filled yet are left out
    top = slot >= n_res
    at = torch.where(top, slot - n_res, slot)
    latent = torch.where(top, at // k, at // r // N_INTERVALS)
    # Interval slots come first: a stable sort by latent keeps each latent's interval rows before its top rows.
    order = latent.sort(stable=True).indices
    slot, top, at, latent = slot[order], top[order], at[order], latent[order]
    windows = torch.cat([state.res_win.reshape(-1, WINDOW), state.top_win.reshape(-1, WINDOW)])[slot].float()
    columns = {
        "latent": latent,
        "interval": torch.where(top, -1, at // r % N_INTERVALS),
        "rank": torch.where(top, at % k, at % r),
        "value": torch.cat([state.res_val.ravel(), state.top_val.ravel()])[slot],
        "token": token[slot],
    }
    offsets = np.arange(0, windows.numel() + 1, WINDOW, dtype=np.int32)
    return pa.table({
        "latent": columns["latent"].numpy(),
        "kind": pa.array(["interval", "top"], pa.large_string()).take(pa.array(top.numpy().view(np.int8))),
        **{name: values.numpy() for name, values in columns.items() if name != "latent"},
        "window": pa.ListArray.from_arrays(pa.array(offsets), pa.array(windows.numpy().ravel())),
    })  # fmt: skip


def finalize(
    state: IndexState, sae: torch.nn.Module, tokens: Tensor, vocab: list[str], unembed: Tensor | None
) -> tuple[pd.DataFrame, pa.Table]:
    """(one row per latent, one row per example) from the running state, the SAE and the corpus."""
    state = state.host()
    n_tokens = max(int(state.n_tokens), 1)
    count = state.count.numpy()
    flat_tokens = tokens.reshape(-1).numpy()
    examples = _examples(state)
    top_ids = state.top_tok.numpy()
    top_vals = state.top_val.numpy()
    labels, top_tokens = [], []
    for i in range(state.d_sae):
        pairs = [(vocab[flat_tokens[t]], float(v)) for t, v in zip(top_ids[i], top_vals[i], strict=True) if t >= 0]
        labels.append(auto_label(pairs))
        top_tokens.append(" ".join(dict.fromkeys(text.strip().lower() for text, _ in pairs if text.strip())))
    decoder = sae.get_parameter("W_dec").detach()
    nn_idx, nn_cos = nearest_rows(decoder, decoder, NEIGHBOURS, exclude_self=True)
    hist = state.hist.numpy()
    latents = pd.DataFrame(
        {
            "latent": np.arange(state.d_sae),
            "count": count,
            "density": count / n_tokens,
            "max": state.max.numpy(),
            "mean": state.total.numpy() / np.maximum(count, 1),
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
