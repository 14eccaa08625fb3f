"""Stitching across a release's family: neighbouring pairs, cached matchings and cached curves.

Both are artifacts (backend/core/artifacts.py) at `ReleasePaths.matching` and `ReleasePaths.curves`; each records
the weights it was computed from and is recomputed, never reused, when they change.
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from backend.core.artifacts import Artifact, KeyedTable, safetensors_key
from backend.core.config import default_device, fast_bf16
from backend.core.files import atomic_path
from backend.core.progress import Reporter, silent
from backend.data.heldout import HeldOut, heldout
from backend.index.build import ENCODE_ELEMENTS
from backend.models.formats import is_dead
from backend.models.geometry import fvu, total_variance
from backend.models.language import LanguageModel, load_language_model
from backend.models.loading import load_sae, source_key
from backend.models.sae import SAE
from backend.sources.release import Release
from backend.stitching.curves import CurveConfig, stitch_steps, stitched_reconstruction, stitching_curve
from backend.stitching.matching import (
    EDGE_FLOOR,
    Classification,
    Matching,
    classify,
    match_saes,
    matching_from_tensors,
)

LOSS_BATCH = 16


class PairMatching(Artifact[Matching]):
    """The decoder matching of a neighbouring pair, keyed on both SAEs' weights."""

    def __init__(self, release: Release, small_id: str, large_id: str, saes: tuple[SAE, SAE] | None = None) -> None:
        self.release, self.small_id, self.large_id, self._saes = release, small_id, large_id, saes

    @property
    def name(self) -> str:
        return f"matching SAE-{self.small_id}→{self.large_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.matching(self.small_id, self.large_id)

    def files(self) -> list[Path]:
        return [self.path] if self.path.exists() else []

    def key(self) -> str:
        return json.dumps([source_key(self.release, self.small_id), source_key(self.release, self.large_id)])

    def stored_key(self) -> str | None:
        return safetensors_key(self.path)

    def load(self) -> Matching | None:
        try:
            with safe_open(str(self.path), "pt") as handle:
                floor = float((handle.metadata() or {})["floor"])
            return matching_from_tensors(load_file(str(self.path)), floor)
        except (FileNotFoundError, SafetensorError, KeyError, ValueError):
            return None

    def compute(self, report: Reporter = silent) -> Matching:
        """Match the pair (on the GPU when there is one) and store it."""
        release = self.release
        small, large = self._saes or (load_sae(release, self.small_id).sae, load_sae(release, self.large_id).sae)
        matching = match_saes(small, large, EDGE_FLOOR, default_device())
        matching.dead_small, matching.dead_large = (
            dead_latents(release, self.small_id),
            dead_latents(release, self.large_id),
        )
        with atomic_path(self.path) as tmp:
            meta = {"key": self.key(), "floor": str(matching.floor)}
            save_file({k: v.contiguous() for k, v in matching.tensors().items()}, str(tmp), metadata=meta)
        return matching


def dead_latents(release: Release, sae_id: str) -> Tensor:
    """`[d_sae]` bool: latents that never fired where the release measured density (all False if it did not)."""
    loaded = load_sae(release, sae_id)
    if loaded.log10_density is None:
        return torch.zeros(loaded.sae.cfg.d_sae, dtype=torch.bool)
    return is_dead(loaded.log10_density)


def pair_classification(release: Release, small_id: str, large_id: str, threshold: float) -> Classification | None:
    """Classification of a pair from its stored matching (None when not computed yet)."""
    matching = PairMatching(release, small_id, large_id).read()
    if matching is None:
        return None
    return classify(matching, max(threshold, matching.floor), matching.dead_small, matching.dead_large)


class Curves(KeyedTable):
    """Stitching curves of every neighbouring pair plus the plain SAEs as reference points.

    Columns: pair, kind ("curve" or "sae"), steps, latents (live), l0, nmse, dloss (next-token loss minus the
    clean model's, mean over held-out contexts; NaN where not measured) and dloss_se (its standard error over
    contexts). `lm` and `held_out` give the model and held-out activations when computing (default: loaded)."""

    def __init__(
        self,
        release: Release,
        settings: CurveConfig | None = None,
        lm: Callable[[], LanguageModel] | None = None,
        held_out: Callable[[], HeldOut] | None = None,
    ) -> None:
        self.release, self.settings, self._lm, self._held_out = release, settings or CurveConfig(), lm, held_out

    @property
    def name(self) -> str:
        return "stitching curves"

    @property
    def path(self) -> Path:
        return self.release.paths.curves(self.settings.slug())

    def key(self) -> str:
        saes = [source_key(self.release, sae_id) for sae_id in self.release.sae_ids]
        return json.dumps({"settings": asdict(self.settings), "saes": saes})

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        lm = self._lm() if self._lm else load_language_model(self.release.model, default_device())
        data = self._held_out() if self._held_out else None
        data = data or heldout(self.release, lm, report=report)
        return self.store(family_curves(self.release, self.settings, lm, data, report))


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


def family_curves(
    release: Release, settings: CurveConfig, lm: LanguageModel, data: HeldOut, report: Reporter
) -> pd.DataFrame:
    """The rows of `Curves`, measured on `data` (the matchings are read or computed and stored on the way)."""
    x = data.vectors
    clean = context_losses(lm, release, data, settings.loss_contexts, None) if settings.loss_points else None
    saes = {sae_id: load_sae(release, sae_id, default_device()).sae for sae_id in release.sae_ids}
    reference = _reference_points(release, lm, data, saes, clean, settings)
    frames = [reference]
    plain = {sae_id: reference.iloc[i] for i, sae_id in enumerate(saes)}
    pairs = release.neighbour_pairs
    for number, (small_id, large_id) in enumerate(pairs):
        report("stitching curves", number, len(pairs))
        small, large = saes[small_id], saes[large_id]
        matching = PairMatching(release, small_id, large_id, (small, large)).get()
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
    return pd.concat(frames, ignore_index=True)


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
    total_var = total_variance(x)
    rows = []
    for sae_id, sae in saes.items():
        # A few tokens at a time: every held-out token over 98,304 latents at once ran out of 24 GB (the paper's
        # family, benchmarks/bench_paper_scale.py).
        squared, fired = 0.0, 0
        with torch.no_grad():
            for part in x.split(max(1, ENCODE_ELEMENTS // sae.cfg.d_sae)):
                part = part.to(sae.device)
                acts = sae.encode(part)
                squared += float(((part - sae.decode(acts)) ** 2).sum())
                fired += int((acts > 0).sum())
        nmse = fvu(squared, total_var)
        dloss, dloss_se = float("nan"), float("nan")
        if clean is not None:
            dloss, dloss_se = loss_delta(context_losses(lm, release, data, settings.loss_contexts, sae.forward), clean)
        rows.append(
            {
                "pair": f"SAE-{sae_id}",
                "kind": "sae",
                "steps": 0,
                "latents": int((~dead_latents(release, sae_id)).sum()),
                "l0": fired / max(1, len(x)),
                "nmse": nmse,
                "dloss": dloss,
                "dloss_se": dloss_se,
            }
        )
    return pd.DataFrame(rows)
