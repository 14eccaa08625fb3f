"""The PS-Eval benchmark across a family: per-pair predictions cached per SAE and probe set, then metrics.

`<release>/polysemy/<probe set hash>-<mode>-<sae>.parquet` holds each pair's two argmax latents and
why it was skipped (empty when probed); it is keyed on the SAE's source, so a rebuilt SAE is re-probed.
"""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from backend.core.files import read_keyed_parquet, write_keyed_parquet
from backend.core.progress import Reporter, silent
from backend.models.language import LanguageModel
from backend.models.loading import load_sae, source_key
from backend.polysemy.probe import Confusion, Mode, balanced, top_latents, word_vectors
from backend.sources.catalog import Release


def probe_set_id(probe: pd.DataFrame) -> str:
    """A short content hash: the same pairs give the same id wherever they came from."""
    return hashlib.sha1(probe.to_csv(index=False).encode()).hexdigest()[:12]


def _path(release: Release, set_id: str, mode: str, sae_id: str) -> Path:
    return release.paths.polysemy(set_id, mode, sae_id)


def _cached(release: Release, set_id: str, mode: str, sae_id: str) -> pd.DataFrame | None:
    return read_keyed_parquet(_path(release, set_id, mode, sae_id), source_key(release, sae_id))


def _store(release: Release, set_id: str, mode: str, sae_id: str, frame: pd.DataFrame) -> None:
    write_keyed_parquet(_path(release, set_id, mode, sae_id), frame, source_key(release, sae_id))


def cached_predictions(
    release: Release, probe: pd.DataFrame, mode: Mode, sae_ids: list[str]
) -> dict[str, pd.DataFrame]:
    """The SAEs' stored predictions for this probe set and mode (those not stored are left out)."""
    set_id = probe_set_id(probe)
    found = {sae_id: _cached(release, set_id, mode, sae_id) for sae_id in sae_ids}
    return {sae_id: frame for sae_id, frame in found.items() if frame is not None}


def predictions(
    release: Release,
    probe: pd.DataFrame,
    mode: Mode,
    sae_ids: list[str],
    lm: Callable[[], LanguageModel],
    report: Reporter | None = None,
) -> dict[str, pd.DataFrame]:
    """Per SAE: argmax1, argmax2 and skipped for every pair, computed only for SAEs not cached.
    `lm` is called (and the model run once for all SAEs) only when something is missing."""
    report = report or silent
    set_id = probe_set_id(probe)
    found: dict[str, pd.DataFrame | None] = {sae_id: None for sae_id in sae_ids}
    found.update(cached_predictions(release, probe, mode, sae_ids))
    missing = [sae_id for sae_id, frame in found.items() if frame is None]
    if missing:
        items = [(c, w) for w, c in zip(probe["word"], probe["context1"], strict=True)]
        items += [(c, w) for w, c in zip(probe["word"], probe["context2"], strict=True)]
        vectors, skipped = word_vectors(lm(), release, items, mode, lambda d, t: report("reading the model", d, t))
        n = len(probe)
        reasons = [skipped[i] or skipped[n + i] or "" for i in range(n)]
        for number, sae_id in enumerate(missing):
            report("encoding with the SAEs", number, len(missing))
            argmax = pd.array(top_latents(load_sae(release, sae_id).sae, vectors, 1)[0][:, 0].numpy(), dtype="Int64")
            argmax[[reason is not None for reason in skipped]] = pd.NA
            frame = pd.DataFrame({"argmax1": argmax[:n], "argmax2": argmax[n:], "skipped": reasons})
            _store(release, set_id, mode, sae_id, frame)
            found[sae_id] = _cached(release, set_id, mode, sae_id)  # as read later, dtypes included
        report("encoding with the SAEs", len(missing), len(missing))
    return {sae_id: frame for sae_id, frame in found.items() if frame is not None}


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
