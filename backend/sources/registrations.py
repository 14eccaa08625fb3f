"""What this machine added to the catalog, in its data directory: releases added with `python -m backend add`
(`added-releases.json`) and meta-SAEs trained here (`registrations.json`). The catalog (catalog.py) merges them in
and writes them under one lock."""

import json
from pathlib import Path
from typing import Any

from backend.core.config import data_dir
from backend.core.errors import CatalogError
from backend.sources.fields import text

REGISTRATIONS = "registrations.json"
ADDED = "added-releases.json"


def _machine_file(name: str, redo: str) -> dict[str, Any]:
    """A JSON object this machine wrote into the data directory ({} when absent); `redo` says how to recreate it."""
    path = data_dir() / name
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:
        raise CatalogError(f"{path} is corrupt ({err}); delete it and {redo}.") from err
    if not isinstance(data, dict):
        raise CatalogError(f"{path} must hold a JSON object; delete it and {redo}.")
    return data


def registered_meta_saes() -> dict[str, list[dict[str, Any]]]:
    """Meta-SAEs registered on this machine, by release; each must live inside the data directory."""
    data = _machine_file(REGISTRATIONS, "register the meta-SAEs again")
    path = data_dir() / REGISTRATIONS
    root = data_dir().resolve()
    for rid, entries in data.items():
        where = f"{path} ({rid!r:.40})"
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise CatalogError(f"{where} must list meta-SAE entries; delete it and register them again.")
        for entry in entries:
            if not Path(text(entry.get("path"), f"{where} path")).resolve().is_relative_to(root):
                raise CatalogError(f"{where}: a registered meta-SAE must live inside {root}; delete the entry.")
    return data


def added_releases() -> dict[str, dict[str, Any]]:
    """The release tables `python -m backend add` registered on this machine."""
    data = _machine_file(ADDED, "add the releases again")
    if not all(isinstance(t, dict) for t in data.values()):
        raise CatalogError(f"{data_dir() / ADDED} must hold release tables; delete it and add the releases again.")
    return data
