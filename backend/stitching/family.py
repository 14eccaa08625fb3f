"""Stitching across a release's family: neighbouring pairs, cached matchings and cached curves.

Matchings live in `<release>/stitching/match-S-L.safetensors`, curves in
`<release>/stitching/curves-<settings>.parquet`; each records the sources it was computed from
and is recomputed, never reused, when they change.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.config import default_device, fast_bf16
from backend.core.files import atomic_path, read_keyed_parquet, write_keyed_parquet
from backend.core.progress import Reporter, silent
from backend.data.heldout import HeldOut, heldout
from backend.models.language import LanguageModel
from backend.models.loading import load_sae, source_key
from backend.models.sae import SAE
from backend.sources.catalog import Release
from backend.stitching.curves import DEFAULT_ORDER, Order, stitch_steps, stitched_reconstruction, stitching_curve
from backend.stitching.matching import (
    DEFAULT_THRESHOLD,
    EDGE_FLOOR,
    Classification,
    Matching,
    classify,
    match_saes,
    matching_from_tensors,
)

LOSS_BATCH = 16
DEAD_LOG10_DENSITY = -9.0
"""Builds store log10(density) clamped at -10 for latents that never fired."""


@dataclass(frozen=True)
class CurveConfig:
    """What a family's stitching curves depend on; shown on the page and part of the cache key."""

    threshold: float = DEFAULT_THRESHOLD
    order: Order = DEFAULT_ORDER
    points: int = 48
    """Measurements of normalised MSE and L0 along each curve."""
    loss_points: int = 3
    """Measurements of the model's next-token loss along each curve (0 = none; each costs a forward pass):
    by default the two ends and the middle."""
    seed: int = 0
    loss_contexts: int = 64
    """Held-out contexts the next-token loss is measured on; its standard error is over contexts."""

    def slug(self) -> str:
        return (
            f"{self.order}-t{self.threshold:.3f}-p{self.points}-l{self.loss_points}x{self.loss_contexts}-s{self.seed}"
        )


def neighbour_pairs(release: Release) -> list[tuple[str, str]]:
    """Each SAE with the next larger one, in catalog order (smallest first)."""
    ids = release.sae_ids
    return list(pairwise(ids))


def _folder(release: Release) -> Path:
    return release.paths.stitching


def matching_path(release: Release, small_id: str, large_id: str) -> Path:
    return _folder(release) / f"match-{small_id}-{large_id}.safetensors"


def _pair_key(release: Release, small_id: str, large_id: str) -> str:
    return json.dumps([source_key(release, small_id), source_key(release, large_id)])


def cached_matching(release: Release, small_id: str, large_id: str) -> Matching | None:
    """The stored matching of the pair, or None when missing or computed from other files."""
    path = matching_path(release, small_id, large_id)
    try:
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
        if meta.get("key") != _pair_key(release, small_id, large_id):
            return None
        return matching_from_tensors(load_file(str(path)), float(meta["floor"]))
    except (FileNotFoundError, SafetensorError, KeyError, ValueError):
        return None


def pair_matching(release: Release, small_id: str, large_id: str, saes: tuple[SAE, SAE] | None = None) -> Matching:
    """The pair's matching, computed (on the GPU when there is one) and stored if not cached."""
    found = cached_matching(release, small_id, large_id)
    if found is not None:
        return found
    small, large = saes or (load_sae(release, small_id).sae, load_sae(release, large_id).sae)
    matching = match_saes(small, large, EDGE_FLOOR, default_device())
    matching.dead_small, matching.dead_large = dead_latents(release, small_id), dead_latents(release, large_id)
    path = matching_path(release, small_id, large_id)
    with atomic_path(path) as tmp:
        meta = {"key": _pair_key(release, small_id, large_id), "floor": str(matching.floor)}
        save_file({k: v.contiguous() for k, v in matching.tensors().items()}, str(tmp), metadata=meta)
    return matching


def dead_latents(release: Release, sae_id: str) -> Tensor:
    """`[d_sae]` bool: latents that never fired where the release measured density (all False if it did not)."""
    loaded = load_sae(release, sae_id)
    if loaded.log10_density is None:
        return torch.zeros(loaded.sae.cfg.d_sae, dtype=torch.bool)
    return loaded.log10_density <= DEAD_LOG10_DENSITY


def pair_classification(release: Release, small_id: str, large_id: str, threshold: float) -> Classification | None:
    """Classification of a pair from its cached matching (None when not computed yet)."""
    matching = cached_matching(release, small_id, large_id)
    if matching is None:
        return None
    return classify(matching, max(threshold, matching.floor), matching.dead_small, matching.dead_large)


def curves_path(release: Release, settings: CurveConfig) -> Path:
    return _folder(release) / f"curves-{settings.slug()}.parquet"


def _curves_key(release: Release, settings: CurveConfig) -> str:
    return json.dumps({"settings": asdict(settings), "saes": [source_key(release, i) for i in release.sae_ids]})


def cached_curves(release: Release, settings: CurveConfig) -> pd.DataFrame | None:
    """Stored curves for these settings, or None when missing or computed from other files."""
    path = curves_path(release, settings)
    if not path.exists():  # before the key: it digests every SAE's weights, some of which may not exist yet
        return None
    return read_keyed_parquet(path, _curves_key(release, settings))


def _splice(reconstruct: Callable[[Tensor], Tensor], keep: Tensor, acts: Tensor) -> Tensor:
    """`acts [batch, seq, d]` with the reconstruction put in at the `keep [batch, seq, 1]` positions."""
    return torch.where(keep, reconstruct(acts), acts)


def context_losses(
    lm: LanguageModel,
    release: Release,
    data: HeldOut,
    contexts: int,
    reconstruct: Callable[[Tensor], Tensor] | None,
) -> Tensor:
    """`[contexts]` mean next-token loss per held-out context, reconstructions spliced in where the
    SAEs apply (the clean model when `reconstruct` is None)."""
    tokens = data.tokens[:contexts]
    losses = []
    for start in range(0, len(tokens), LOSS_BATCH):
        part = tokens[start : start + LOSS_BATCH]
        keep = data.keep[start : start + len(part)].to(lm.device).unsqueeze(-1)
        splice = partial(_splice, reconstruct, keep) if reconstruct else None
        loss = lm.next_token_loss(part, release.hook, release.convention, splice, autocast=fast_bf16(lm.device))
        losses.append(loss.mean(dim=1).cpu())
    return torch.cat(losses)


def loss_delta(spliced: Tensor, clean: Tensor) -> tuple[float, float]:
    """Mean increase of the per-context loss `[n]` over the clean model's, and its standard error.

    Paired by context, so the contexts' own difficulty cancels; tokens of one context are not
    independent, so the error is taken over contexts, not tokens."""
    diff = (spliced - clean).double()
    se = float(diff.std() / len(diff) ** 0.5) if len(diff) > 1 else float("nan")
    return float(diff.mean()), se


def compute_curves(
    release: Release,
    settings: CurveConfig,
    lm: LanguageModel,
    report: Reporter | None = None,
    data: HeldOut | None = None,
) -> pd.DataFrame:
    """Stitching curves of every neighbouring pair plus the plain SAEs as reference points, stored.

    Columns: pair, kind ("curve" or "sae"), steps, latents (live), l0, nmse, dloss (next-token loss
    minus the clean model's, mean over held-out contexts; NaN where not measured) and dloss_se (its
    standard error over contexts). `data`: held-out activations (default: the release's)."""
    found = cached_curves(release, settings)
    if found is not None:
        return found
    report = report or silent
    data = data or heldout(release, lm, progress=lambda d, t: report("held-out activations", d, t))
    x = data.vectors
    clean = context_losses(lm, release, data, settings.loss_contexts, None) if settings.loss_points else None
    saes = {sae_id: load_sae(release, sae_id, default_device()).sae for sae_id in release.sae_ids}
    reference = _reference_points(release, lm, data, saes, clean, settings)
    frames = [reference]
    plain = {sae_id: reference.iloc[i] for i, sae_id in enumerate(saes)}
    pairs = neighbour_pairs(release)
    for number, (small_id, large_id) in enumerate(pairs):
        report("stitching curves", number, len(pairs))
        small, large = saes[small_id], saes[large_id]
        matching = pair_matching(release, small_id, large_id, (small, large))
        classification = classify(matching, settings.threshold, matching.dead_small, matching.dead_large)
        steps = stitch_steps(classification, settings.order, matching.large_best, settings.seed)
        curve = stitching_curve(small, large, x, steps, settings.points)
        curve["dloss"], curve["dloss_se"] = float("nan"), float("nan")
        for row in _loss_rows(curve, settings.loss_points):
            done = int(curve.at[row, "steps"])
            # The curve's ends are the plain SAEs themselves (exactly), whose loss is already measured.
            if done in (0, len(steps)):
                end = plain[small_id if done == 0 else large_id]
                curve.loc[row, ["dloss", "dloss_se"]] = end["dloss"], end["dloss_se"]
                continue
            assert clean is not None  # loss_points > 0 whenever there are loss rows
            splice = partial(stitched_reconstruction, small, large, steps=steps, done=done)
            spliced = context_losses(lm, release, data, settings.loss_contexts, splice)
            curve.loc[row, ["dloss", "dloss_se"]] = loss_delta(spliced, clean)
        curve.insert(0, "pair", f"{small_id}→{large_id}")
        curve.insert(1, "kind", "curve")
        frames.append(curve)
    report("stitching curves", len(pairs), len(pairs))
    result = pd.concat(frames, ignore_index=True)
    write_keyed_parquet(curves_path(release, settings), result, _curves_key(release, settings))
    return result


def _loss_rows(curve: pd.DataFrame, loss_points: int) -> list[int]:
    """The curve's rows where the loss is measured (none when `loss_points` is 0)."""
    if loss_points <= 0:
        return []
    positions = torch.linspace(0, len(curve) - 1, min(loss_points, len(curve))).round().long().unique()
    return [int(p) for p in positions]


def _reference_points(
    release: Release,
    lm: LanguageModel,
    data: HeldOut,
    saes: dict[str, SAE],
    clean: Tensor | None,
    settings: CurveConfig,
) -> pd.DataFrame:
    x = data.vectors
    total_var = float(((x - x.mean(dim=0)) ** 2).sum())
    rows = []
    for sae_id, sae in saes.items():
        with torch.no_grad():
            acts = sae.encode(x.to(sae.device))
            nmse = float(((x.to(sae.device) - sae.decode(acts)) ** 2).sum()) / total_var
        dloss, dloss_se = float("nan"), float("nan")
        if clean is not None:
            dloss, dloss_se = loss_delta(context_losses(lm, release, data, settings.loss_contexts, sae.forward), clean)
        rows.append(
            {
                "pair": f"SAE-{sae_id}",
                "kind": "sae",
                "steps": 0,
                "latents": int((~dead_latents(release, sae_id)).sum()),
                "l0": float((acts > 0).sum(dim=1).float().mean()),
                "nmse": nmse,
                "dloss": dloss,
                "dloss_se": dloss_se,
            }
        )
    return pd.DataFrame(rows)
