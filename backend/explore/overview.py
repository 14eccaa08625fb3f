"""Summaries of an SAE for its overview page: configuration, weight statistics, density table."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from backend.models.sae import SAE
from backend.sources.release import Release


@torch.no_grad()
def sae_summary(sae: SAE, release: Release, sae_id: str) -> dict[str, pd.DataFrame]:
    """Two small tables: the configuration and source, and decoder-norm / bias statistics."""
    cfg = sae.cfg
    entry = release.sae(sae_id)
    trained_as = cfg.extra.get("trained_as") or {}
    trained_k = f", k={trained_as['k']}" if trained_as.get("k") else ""
    config: dict[str, Any] = {
        "architecture": cfg.architecture
        + (f" (trained as {trained_as.get('architecture')}{trained_k})" if trained_as else ""),
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "k": cfg.k if cfg.k is not None else "—",
        "hook": cfg.hook_name or release.hook,
        "convention": release.convention,
        "model": _public(release.model),
        "source": entry.location.describe()
        if entry.location.kind == "hub"
        else f"{release.id}/{entry.id} on this server",
        "revision": entry.location.revision or ("main" if entry.location.kind == "hub" else "—"),
        "Neuronpedia id": entry.neuronpedia_id or "—",
    }
    norms = sae.W_dec.norm(dim=1)
    weights = {
        "decoder row norm (min / mean / max)": f"{norms.min():.4f} / {norms.mean():.4f} / {norms.max():.4f}",
        "encoder column norm (mean)": f"{sae.W_enc.norm(dim=0).mean():.4f}",
        "b_enc (mean / std)": f"{sae.b_enc.mean():.4f} / {sae.b_enc.std():.4f}",
        "b_dec norm": f"{sae.b_dec.norm():.4f}",
    }
    if cfg.uses_threshold:
        weights["threshold (min / mean / max)"] = (
            f"{sae.threshold.min():.4f} / {sae.threshold.mean():.4f} / {sae.threshold.max():.4f}"
        )
    return {
        "config": pd.DataFrame({"value": [str(v) for v in config.values()]}, index=list(config)),
        "weights": pd.DataFrame({"value": list(weights.values())}, index=list(weights)),
    }


def log_density(table: pd.DataFrame) -> pd.DataFrame:
    """Latents that fired, with log10 of their density, for the density histogram."""
    alive = table[table["density"] > 0]
    return alive.assign(log10_density=np.log10(alive["density"].to_numpy()))


def _public(model: str) -> str:
    """A model as a visitor may see it: a local folder by its name, not where it lies on the server."""
    return f"local:{Path(model.removeprefix('local:')).name}" if model.startswith("local:") else model
