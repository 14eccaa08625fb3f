"""One entry point from a catalog entry to a loaded SAE or meta-SAE, whatever the source."""

import hashlib
from functools import lru_cache
from pathlib import Path

import torch

from backend.core.errors import IncompatibleError
from backend.models.formats import (
    PAPER_CFG,
    PAPER_WEIGHTS,
    SAELENS_CFG,
    SAELENS_SPARSITY,
    SAELENS_WEIGHTS,
    LoadedSAE,
    load_sae_dir,
)
from backend.models.headers import SAEOutline, mapped_decoder, outline_saelens
from backend.models.sae import SAE
from backend.sources.hub import cached_file, fetch_folder
from backend.sources.release import MetaEntry, Release, SAEEntry


def _fetch(entry: SAEEntry) -> LoadedSAE:
    if entry.layout == "paper-meta":
        folder = fetch_folder(entry.location, [PAPER_CFG, PAPER_WEIGHTS])
    else:
        folder = fetch_folder(entry.location, [SAELENS_CFG, SAELENS_WEIGHTS], optional=[SAELENS_SPARSITY])
    threshold = entry.threshold if isinstance(entry, MetaEntry) else None
    loaded = load_sae_dir(folder, device=torch.device("cpu"), threshold=threshold)
    if entry.prefix is None:
        return loaded
    density = loaded.log10_density[: entry.prefix] if loaded.log10_density is not None else None
    return loaded._replace(sae=loaded.sae.prefix(entry.prefix), log10_density=density)


def load_sae(release: Release, sae_id: str, device: torch.device | None = None) -> LoadedSAE:
    """The SAE `sae_id` of `release`, on `device` (CPU when None)."""
    loaded = _fetch(release.sae(sae_id))
    return loaded._replace(sae=loaded.sae.to(device or torch.device("cpu")))


def sae_outline(release: Release, sae_id: str) -> SAEOutline:
    """The config and stored densities of SAE `sae_id` of `release`, its weights checked whole but not read (a
    prefix checked as loading checks it)."""
    entry = release.sae(sae_id)
    if entry.layout != "saelens":
        loaded = _fetch(entry)
        return SAEOutline(loaded.sae.cfg, loaded.log10_density)
    outline = outline_saelens(fetch_folder(entry.location, [SAELENS_CFG, SAELENS_WEIGHTS], optional=[SAELENS_SPARSITY]))
    if entry.prefix is None:
        return outline
    cfg = outline.cfg.prefix(entry.prefix)
    density = outline.log10_density
    return SAEOutline(cfg, density[: entry.prefix] if density is not None else None)


def decoder_rows(release: Release, sae_id: str) -> torch.Tensor:
    """The decoder rows `[d_sae, d_in]` of SAE `sae_id`, mapped from its weights file (`mapped_decoder`), not
    loaded: for reading a few rows, or all of them once, where holding the SAE would cost its whole weights."""
    entry = release.sae(sae_id)
    rows = mapped_decoder(fetch_folder(entry.location, [SAELENS_CFG, SAELENS_WEIGHTS]))
    return rows if entry.prefix is None else rows[: entry.prefix]


def load_meta_sae(release: Release, meta_id: str, over: SAE, device: torch.device | None = None) -> SAE:
    """The meta-SAE `meta_id`, checked against the SAE whose decoder rows it reads."""
    entry = release.meta(meta_id)
    meta = _fetch(entry).sae
    if meta.cfg.d_in != over.cfg.d_in:
        raise IncompatibleError(
            f"Meta-SAE {meta_id!r} reads vectors of width {meta.cfg.d_in}, but SAE {entry.over!r} has "
            f"decoder rows of width {over.cfg.d_in}; it was trained on another SAE."
        )
    return meta.to(device or torch.device("cpu"))


def source_key(release: Release, sae_id: str) -> str:
    """The SHA-256 of the SAE's (or meta-SAE's) weights file: the key of every artifact derived from it (matchings,
    curves, maps, probes) and of the app's caches. It names the weights, not where they live, so artifacts
    published with a release stay valid when the same files are read from the Hub cache, and change whenever an SAE
    is rebuilt. Read from the cache when the file is there (no network on a page rerun)."""
    entry = _entry(release, sae_id)
    weights = _weights_name(entry)
    path = cached_file(entry.location, weights) or fetch_folder(entry.location, [weights]) / weights
    digest = _path_digest(path)
    return digest if entry.prefix is None else f"{digest}[:{entry.prefix}]"


def warm_source_keys(release: Release) -> None:
    """Hash the weights of every SAE, second seed and meta-SAE of `release` that is on this machine already (never
    downloading), so that the first page keying its caches on them does not wait: a server does this before its first
    visitor (at the paper's scale, over a second of SHA-256)."""
    for entry in (*release.saes, *release.second_seeds, *release.meta_saes):
        path = cached_file(entry.location, _weights_name(entry))
        if path is not None:
            _path_digest(path)


def _weights_name(entry: SAEEntry) -> str:
    return PAPER_WEIGHTS if entry.layout == "paper-meta" else SAELENS_WEIGHTS


def _path_digest(path: Path) -> str:
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime)


def _entry(release: Release, member_id: str) -> SAEEntry:
    return release.meta(member_id) if any(m.id == member_id for m in release.meta_saes) else release.sae(member_id)


@lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime: float) -> str:
    """SHA-256 of a file, computed once per (path, size, modification time)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
