"""What leaves the app: a card as JSON (everything it shows), tables as CSV or Parquet, and lists of latents as
Neuronpedia quick-list links. The same functions serve the download buttons and `python -m backend export`."""

import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Literal
from urllib.parse import quote

import pandas as pd

from backend.core.errors import AtlasError
from backend.index.cards import Card, Example, Interval
from backend.metasae.decompose import Decompositions
from backend.stitching.matching import Classification

TableFormat = Literal["csv", "parquet"]
CARD_FORMAT = "sae-atlas-card/1"
QUICK_LIST = "https://www.neuronpedia.org/quick-list/?name={name}&features={features}"
MAX_QUICK_LIST = 100
"""Neuronpedia quick-lists are links: a few hundred features make a URL browsers still open."""


def card_json(
    card: Card,
    release: str,
    sae: str,
    canonicality: dict[str, object] | None = None,
    families: Sequence[tuple[str, str, int, float]] = (),
) -> str:
    """The card as JSON, with where it comes from, its canonicality profile (backend/lenses/profile.py) and its
    nearest latent in each other family trained from the same data (`family_partners`: release, SAE, latent,
    cosine)."""
    body: dict[str, object] = {"format": CARD_FORMAT, "release": release, "sae": sae, "card": asdict(card)}
    if canonicality is not None:
        body["canonicality"] = {key: _plain(value) for key, value in canonicality.items()}
    if families:
        body["nearest_in_families"] = [
            {"release": rid, "sae": sae_id, "latent": latent, "cosine": cosine}
            for rid, sae_id, latent, cosine in families
        ]
    return json.dumps(body, indent=1)


def _plain(value: object) -> object:
    """A profile value as JSON has it: numpy scalars as numbers, missing values (None, NaN) as null."""
    if hasattr(value, "item"):
        value = value.item()
    return None if value is None or (isinstance(value, float) and value != value) else value


def canonicality_from_json(text: str) -> dict[str, object]:
    """The canonicality profile of a card exported by `card_json` ({} when it was exported without one)."""
    try:
        profile = json.loads(text).get("canonicality", {})
    except (ValueError, AttributeError) as err:
        raise AtlasError(f"Not an SAE Atlas card export ({err}).") from err
    return dict(profile) if isinstance(profile, dict) else {}


def card_from_json(text: str) -> Card:
    """A card exported by `card_json`, read back (equal to the original)."""
    try:
        raw = json.loads(text)
        body = dict(raw["card"])
        if raw.get("format") != CARD_FORMAT:
            raise ValueError(f"format {raw.get('format')!r}")
    except (ValueError, KeyError, TypeError) as err:
        raise AtlasError(f"Not an SAE Atlas card export ({err}).") from err

    def example(e: dict) -> Example:
        return Example(**e)

    body["top"] = [example(e) for e in body["top"]]
    body["intervals"] = [Interval(**{**i, "examples": [example(e) for e in i["examples"]]}) for i in body["intervals"]]
    for name in ("histogram", "neighbours", "lens_pos", "lens_neg"):
        body[name] = [tuple(item) for item in body[name]]
    return Card(**body)


def table_bytes(frame: pd.DataFrame, fmt: TableFormat) -> bytes:
    """`frame` as a CSV or Parquet file's bytes (no index column)."""
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def decomposition_table(table: Decompositions, threshold: float | None = None) -> pd.DataFrame:
    """Every (latent, meta-latent, activation) above `threshold` (default: the meta-SAE's own)."""
    t = table.default_threshold if threshold is None else threshold
    keep = table.value > t
    return pd.DataFrame(
        {
            "latent": table.latent[keep].numpy(),
            "meta_latent": table.meta[keep].numpy(),
            "activation": table.value[keep].numpy(),
        }
    )


def classification_table(found: Classification, small: str, large: str) -> pd.DataFrame:
    """One row per latent of the larger SAE: novel, reconstruction or dead, its best partner and cosine."""
    status = pd.Series("reconstruction", index=range(found.n_large))
    status[found.novel.tolist()] = "novel"
    status[found.dead_large.tolist()] = "dead"
    return pd.DataFrame(
        {
            "pair": f"{small}→{large}",
            "latent": range(found.n_large),
            "status": status.to_numpy(),
            "best_partner": found.large_best.numpy(),
            "cosine": found.large_cos.numpy(),
            "threshold": found.threshold,
        }
    )


def quick_list_link(neuronpedia_id: str, latents: list[int], name: str) -> str:
    """A Neuronpedia quick-list of `latents` of the SAE Neuronpedia calls `model/source` (at most MAX_QUICK_LIST)."""
    if "/" not in neuronpedia_id:
        raise AtlasError(f"{neuronpedia_id!r} is not a Neuronpedia id of the form model/source.")
    model, source = neuronpedia_id.split("/", 1)
    features = [{"modelId": model, "layer": source, "index": str(i)} for i in latents[:MAX_QUICK_LIST]]
    return QUICK_LIST.format(name=quote(name), features=quote(json.dumps(features, separators=(",", ":"))))
