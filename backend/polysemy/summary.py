"""The PS-Eval benchmark's figures from stored predictions (backend/polysemy/bench.py): confusion counts and
metrics per SAE, a pair table to read, one sentence on the trend with size, and the readings beyond the argmax."""

import json

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from backend.polysemy.probe import RESIDUAL, Confusion, balanced


def summarise(probe: pd.DataFrame, by_sae: dict[str, pd.DataFrame], sizes: dict[str, int]) -> pd.DataFrame:
    """One row per SAE: latents, pairs counted, pairs skipped (and why), same-meaning pairs left out to
    balance the classes, confusion counts and metrics (positive = same meaning, as PS-Eval). The residual stream's
    reading, when given, has no argmax and is left out (see `threshold_readings`)."""
    rows = []
    for sae_id, frame in by_sae.items():
        if sae_id == RESIDUAL:
            continue
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
    table["code cosine"] = frame["cosine"]
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


FOLDS = 5
"""Cross-validation folds for the threshold on a pair's cosine: every pair is judged by a threshold fit without it."""


def threshold_readings(probe: pd.DataFrame, by_reader: dict[str, pd.DataFrame], sizes: dict[str, int]) -> pd.DataFrame:
    """Beyond the argmax: each pair predicted *same meaning* when the cosine of its two readings is above a
    threshold, for every SAE's whole code and for the residual stream itself (`RESIDUAL`, the baseline of what the
    model holds at the hook). The threshold is a one-split decision tree fit by stratified `FOLDS`-fold
    cross-validation on the pairs PS-Eval counts, so no pair is judged by a threshold fit on it. One row per
    reader, the residual stream last; metrics are NaN where a fold would lack a class."""
    truth = probe["same"].to_numpy(dtype=bool)
    rows = []
    for reader, frame in sorted(by_reader.items(), key=lambda item: sizes.get(item[0], np.inf)):
        counted = balanced(truth, (frame["skipped"] == "").to_numpy())
        x = frame["cosine"].to_numpy(dtype=float)[counted].reshape(-1, 1)
        y = truth[counted]
        metrics = dict.fromkeys(("precision", "recall", "f1", "specificity", "accuracy"), float("nan"))
        if min(int(y.sum()), int((~y).sum())) >= FOLDS:
            folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
            predicted = cross_val_predict(DecisionTreeClassifier(max_depth=1, random_state=0), x, y, cv=folds)
            metrics = Confusion.of(y, predicted).metrics()
        rows.append(
            {
                "reader": "residual stream (no SAE)" if reader == RESIDUAL else f"SAE {reader}, whole code",
                "latents": sizes.get(reader),
                "pairs": int(counted.sum()),
                "mean cosine, same": float(x[y].mean()) if y.any() else float("nan"),
                "mean cosine, different": float(x[~y].mean()) if (~y).any() else float("nan"),
                **metrics,
            }
        )
    return pd.DataFrame(rows)


def beyond_argmax(summary: pd.DataFrame, readings: pd.DataFrame) -> str:
    """One plain sentence: how the argmax, the whole code and the residual stream compare in accuracy."""
    codes = readings[readings["latents"].notna()].dropna(subset=["accuracy"])
    residual = readings[readings["latents"].isna()].dropna(subset=["accuracy"])
    argmax = summary.dropna(subset=["accuracy"])
    if codes.empty or argmax.empty:
        return ""

    def span(values: pd.Series) -> str:
        low, high = float(values.min()), float(values.max())
        return f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f}–{high:.2f}"

    sentence = (
        f"The strongest latent alone scores {span(argmax['accuracy'])}; the same SAEs' whole codes, compared by cosine "
        f"with a threshold fit by {FOLDS}-fold cross-validation, score {span(codes['accuracy'])}"
    )
    if not residual.empty:
        sentence += f", and the residual stream itself {float(residual['accuracy'].iloc[0]):.2f}"
    return sentence + "."
