"""Process-wide settings: where data lives and which device computes."""

import os
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: `app.py`, `backend/`, `assets/` live here."""
ASSETS = PROJECT_ROOT / "assets"
DATA_DIR_ENV = "ATLAS_DATA_DIR"
"""Environment variable that overrides the data directory."""


def data_dir() -> Path:
    """The one directory holding built releases, converted models and indexes."""
    override = os.environ.get(DATA_DIR_ENV)
    root = Path(override) if override else Path.home() / ".cache" / "sae-atlas"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


READ_ONLY_ENV = "ATLAS_READ_ONLY"
"""Set to 1 on a shared deployment: the app then only reads what is built, and hides every action that
trains, computes an analysis, imports from the internet or parses an upload (SECURITY.md)."""


def read_only() -> bool:
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() in ("1", "true", "yes")
