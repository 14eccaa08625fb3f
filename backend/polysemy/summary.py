"""The PS-Eval benchmark's figures from stored predictions (backend/polysemy/bench.py): confusion counts and
metrics per SAE, a pair table to read, and one sentence on the trend with size."""

import json

import pandas as pd

from backend.polysemy.probe import Confusion, balanced


def summarise(probe: pd.DataFrame, by_sae: dict[str, pd.DataFrame], sizes: dict[str, int]) -> pd.DataFrame:
    """One row per SAE: latents, pairs counted, pairs skipped (and why), same-meaning pairs left out to
    balance the classes, confusion counts and metrics (positive = same meaning, as PS-Eval)."""
    rows = []
    for sae_id, frame in by_sae.items():
        probed = (frame["skipped"] == "").to_numpy()
        truth = probe["same"].to_numpy(dtype=bool)
        counted = balanced(truth, probed)
        same_pred = (frame["argmax1"] == frame["argmax2"]).to_numpy(dtype=bool, na_value=False)
        confusion = Confusion.of(truth[counted], same_pred[counted])
        reasons = frame.loc[~probed, "skipped"].value_counts().to_dict()
        rows.append(
            {
                "sae": sae_id,
                "latents": sizes[sae_id],
                "pairs": int(counted.sum()),
                "skipped": int((~probed).sum()),
                "unbalanced": int((probed & ~counted).sum()),
                "skip reasons": json.dumps(reasons) if reasons else "",
                "tp": confusion.tp,
                "fp": confusion.fp,
                "tn": confusion.tn,
                "fn": confusion.fn,
                **confusion.metrics(),
            }
        )
    return pd.DataFrame(rows).sort_values("latents", ignore_index=True)


def pair_table(probe: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The probe set with one SAE's predictions beside it, for reading individual pairs."""
    table = probe.copy()
    table["argmax1"], table["argmax2"], table["skipped"] = frame["argmax1"], frame["argmax2"], frame["skipped"]
    table["predicted same"] = (frame["argmax1"] == frame["argmax2"]).astype("boolean")
    return table


CHANCE_MARGIN = 0.05
"""Accuracy within this of 0.5 (the classes are balanced) is called chance."""


def size_trend(summary: pd.DataFrame) -> str:
    """One plain sentence on whether accuracy rises with SAE size, and where it sits at chance."""
    rows = summary.dropna(subset=["accuracy"]).sort_values("latents")
    if len(rows) < 2:
        return ""
    acc = rows["accuracy"].to_numpy()
    listed = " → ".join(f"{a:.2f}" for a in acc)
    rising = bool((acc[1:] >= acc[:-1]).all() and acc[-1] > acc[0])
    sentence = f"Accuracy {'rises' if rising else 'does not rise'} with size ({listed}, smallest to largest SAE)"
    at_chance = [str(s) for s, a in zip(rows["sae"], acc, strict=True) if abs(a - 0.5) <= CHANCE_MARGIN]
    if at_chance:
        sentence += (
            f"; SAE {', '.join(at_chance)} {'is' if len(at_chance) == 1 else 'are'} at chance (0.5 ± {CHANCE_MARGIN})"
        )
    return sentence + "."
