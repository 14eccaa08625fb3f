"""The latent map: a seeded 2-D UMAP of an SAE's decoder directions, computed once and stored.

An artifact (`LatentMap`, at `ReleasePaths.latent_map`) keyed on the SAE's weights and the UMAP settings; a map
from other files or settings is recomputed, never served.
"""

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from backend.core.artifacts import KeyedTable
from backend.core.config import default_device
from backend.core.progress import Reporter, silent
from backend.metasae.decompose import Decompositions, meta_label
from backend.models.geometry import nearest_rows
from backend.models.loading import load_sae, source_key
from backend.sources.release import Release
from backend.stitching.matching import Classification

NO_META = -1


@dataclass(frozen=True)
class MapConfig:
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    n_epochs: int = 200
    """umap-learn's own choice above 10,000 points; below, it would spend 500 (2.5x the time) for little change."""
    seed: int = 0
    exact_neighbours_max: int = 50_000
    """Up to this many latents, cosine neighbours come from one chunked product instead of pynndescent's
    approximate search: exact, and 12 s instead of 54 s for the embedded build's four maps (pynndescent
    compiles with numba in every fresh process). The product is n^2 work (28 s at 49,152 x 768 on 2
    cores), so larger SAEs keep pynndescent."""


def umap_layout(decoder: torch.Tensor, cfg: MapConfig, verbose: bool = False) -> np.ndarray:
    """`decoder [n, d]` -> `[n, 2]` float32 coordinates (seeded, so the same input gives the same map)."""
    from umap import UMAP  # numba compiles on import: only pay for it when a map is computed

    rows = decoder.detach().float().cpu()
    n_neighbors = min(cfg.n_neighbors, len(rows) - 1)
    exact = len(rows) <= cfg.exact_neighbours_max and cfg.metric == "cosine"
    reducer = UMAP(
        n_neighbors=n_neighbors,
        min_dist=cfg.min_dist,
        metric=cfg.metric,
        n_epochs=cfg.n_epochs,
        random_state=cfg.seed,
        n_jobs=1,  # a seed forces one thread anyway; saying so keeps umap from warning
        verbose=verbose,
        precomputed_knn=cosine_knn(rows, n_neighbors) if exact else (None, None, None),
    )
    with warnings.catch_warnings():
        # We never call `transform`, which is all a missing search index takes away.
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        return np.asarray(reducer.fit_transform(rows.numpy()), dtype=np.float32)


def cosine_knn(rows: torch.Tensor, n_neighbors: int) -> tuple[np.ndarray, np.ndarray, None]:
    """UMAP's neighbour lists: each row itself first (distance 0), then its nearest by cosine distance.

    `rows [n, d]` -> (indices `[n, n_neighbors]`, distances `[n, n_neighbors]`, no search index)."""
    on_device = rows.to(default_device())
    idx, cos = (t.cpu() for t in nearest_rows(on_device, on_device, n_neighbors - 1, exclude_self=True))
    self_idx = torch.arange(len(rows)).unsqueeze(1)
    indices = torch.cat([self_idx, idx], dim=1).numpy()
    distances = torch.cat([torch.zeros(len(rows), 1), (1 - cos).clamp_min(0)], dim=1).numpy()
    return indices, distances.astype(np.float32), None


class LatentMap(KeyedTable):
    """The SAE's map (latent, x, y), keyed on its weights and the UMAP settings."""

    cpu_bound = True  # umap-learn's layout, one thread (seeded)

    def __init__(self, release: Release, sae_id: str, cfg: MapConfig = MapConfig()) -> None:
        self.release, self.sae_id, self.cfg = release, sae_id, cfg

    @property
    def name(self) -> str:
        return f"map SAE-{self.sae_id}"

    @property
    def path(self) -> Path:
        return self.release.paths.latent_map(self.sae_id)

    def key(self) -> str:
        return json.dumps({"sae": source_key(self.release, self.sae_id), "umap": asdict(self.cfg)})

    def compute(self, report: Reporter = silent) -> pd.DataFrame:
        """Progress: load, layout, done."""
        stage = f"UMAP of SAE-{self.sae_id}"
        report(stage, 0, 2)
        decoder = load_sae(self.release, self.sae_id).sae.W_dec
        report(stage, 1, 2)
        frame = self.store(map_frame(umap_layout(decoder, self.cfg)))
        report(stage, 2, 2)
        return frame


def map_frame(coords: np.ndarray) -> pd.DataFrame:
    """`coords [d_sae, 2]` as the stored table."""
    return pd.DataFrame({"latent": np.arange(len(coords)), "x": coords[:, 0], "y": coords[:, 1]})


def top_meta_latents(decompositions: Decompositions) -> np.ndarray:
    """`[d_sae]` the strongest meta-latent of each latent at the default threshold (NO_META if none)."""
    top = np.full(decompositions.d_sae, NO_META, dtype=np.int64)
    value = decompositions.value.numpy()
    first = decompositions.row_start[:-1].numpy()
    has = (decompositions.row_start[1:] > decompositions.row_start[:-1]).numpy()
    active = has.copy()
    active[has] = value[first[has]] > max(decompositions.default_threshold, decompositions.floor)
    top[active] = decompositions.meta.numpy()[first[active]]
    return top


def meta_labels(decompositions: Decompositions, labels: Sequence[str]) -> dict[int, str]:
    """A label for every meta-latent, from its strongest members' labels."""
    return {m: meta_label(decompositions.members(m), labels) for m in range(decompositions.n_meta)}


def novelty(classification: Classification) -> np.ndarray:
    """`[n_large]` "novel", "reconstruction" or "dead" for each latent of the pair's larger SAE."""
    status = np.full(classification.n_large, "reconstruction", dtype=object)
    status[classification.novel.numpy()] = "novel"
    status[classification.dead_large.numpy()] = "dead"
    return status


def map_table(
    coords: pd.DataFrame,
    labels: Sequence[str] | None,
    log_density: np.ndarray | None,
    top_meta: np.ndarray | None,
    meta_names: dict[int, str] | None,
    status: np.ndarray | None,
) -> pd.DataFrame:
    """One row per latent: x, y, label and whatever colourings are available (absent ones left out)."""
    table = coords.sort_values("latent").reset_index(drop=True)
    table["label"] = labels if labels is not None else [""] * len(table)
    if log_density is not None:
        table["log10 density"] = log_density
    if top_meta is not None:
        names = meta_names or {}
        table["meta"] = top_meta
        table["meta label"] = [
            f"meta {m}: {names.get(int(m), '')}" if m != NO_META else "no meta-latent" for m in top_meta
        ]
    if status is not None:
        table["status"] = status
    return table
