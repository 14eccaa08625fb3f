"""Typed reading of catalog and registration values: every field is checked before anything uses it, and
a wrong one is a `CatalogError` that names the release, the field and what it must be.

Ids become folder names under the data directory (`releases/<release>/index/<sae>`), so they are safe
names: letters, digits, `.`, `_`, `-`, not starting with a dot, never `..`. Folders of SAEs built here
must resolve inside their release's folder; an operator who wants files elsewhere says so explicitly
with a `local` source in the catalog.
"""

import math
import re
from pathlib import Path
from typing import Any

from backend.core.errors import CatalogError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LATENTS = 1 << 24
MAX_CONTEXT = 1 << 16


def safe_id(value: Any, where: str) -> str:
    """`value` as an id that is safe as one path segment."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not SAFE_ID.match(value) or ".." in value:
        raise CatalogError(
            f"{where}: id {value!r:.60} must be 1-64 letters, digits, '.', '_' or '-' (not starting with '.', no '..')."
        )
    return value


def whole(value: Any, where: str, low: int = 1, high: int = MAX_LATENTS, optional: bool = True) -> int | None:
    """A whole number in [low, high] (JSON/TOML booleans are not numbers), or None when absent and optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CatalogError(f"{where} must be a whole number from {low} to {high}, got {value!r:.60}.")
    return value


def number(value: Any, where: str, low: float = 0.0, optional: bool = True) -> float | None:
    """A finite number >= low, or None when absent and optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise CatalogError(f"{where} must be a finite number of at least {low:g}, got {value!r:.60}.")
    return float(value)


def flag(value: Any, where: str) -> bool:
    """A boolean (TOML true/false), refused as anything else: a quoted "false" must not read as true."""
    if not isinstance(value, bool):
        raise CatalogError(f"{where} must be true or false, got {value!r:.60}.")
    return value


def text(value: Any, where: str, default: str = "", limit: int = 2000) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit:
        raise CatalogError(f"{where} must be a string of at most {limit} characters.")
    return value


def no_parent(value: Any, where: str) -> str:
    """A path written in the catalog, refused when a segment is `..` (a Hub subfolder or a folder below a
    `local` root must not climb out of it)."""
    path = text(value, where)
    if ".." in Path(path).parts or ".." in path.split("/"):
        raise CatalogError(f"{where} must not contain '..', got {path!r:.80}.")
    return path


HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def hub_repo(value: Any, where: str) -> str:
    """A Hub repo id, `owner/name`."""
    repo = text(value, where)
    if not HUB_REPO.match(repo) or ".." in repo:
        raise CatalogError(f"{where} must be a Hub repo id (owner/name), got {repo!r:.80}.")
    return repo


def choice(value: Any, where: str, allowed: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in allowed:
        raise CatalogError(f"{where} must be one of {', '.join(allowed)}, got {value!r:.60}.")
    return str(value)


def inside(folder: Path, relative: Any, where: str) -> Path:
    """`folder / relative`, refused when it resolves outside `folder` (e.g. `../..`) or is absolute."""
    relative = text(relative, where)
    target = (folder / relative).resolve()
    if Path(relative).is_absolute() or not target.is_relative_to(folder.resolve()):
        raise CatalogError(f"{where}: {relative!r:.80} points outside {folder}; built paths stay inside it.")
    return folder / relative


def table(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{where} must be a table (key = value pairs).")
    return value
