"""What a visitor of the app can make the server read (SECURITY.md).

From the browser, an SAE or a corpus is an upload or something the operator allowed: a folder or file under
`ATLAS_ALLOWED_ROOTS` (the data directory by default), picked from what this module offers, never a path a
visitor types. Hub repos are named by id. Refusals read the same whether a path exists or not, so the form
cannot be used to learn the server's folders. The command line (`python -m backend add`) is the operator's
and is not confined.
"""

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.config import allowed_roots, data_dir
from backend.core.errors import AtlasError
from backend.core.files import write_bytes_atomic
from backend.core.paths import DERIVED_FOLDERS, uploads
from backend.models.formats import SAELENS_CFG, SAELENS_SPARSITY, SAELENS_WEIGHTS
from backend.sources.fields import safe_id
from backend.sources.release import CORPUS_SUFFIXES

MAX_OFFERED = 200
"""Folders or files listed per kind: enough to pick from, bounded on a large tree."""
MAX_DEPTH = 6
HUB_MODEL = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
"""A Hub model id: `name` or `owner/name`."""
REFUSED = (
    "The {what} must be an upload or one of the folders this server offers; nothing else on the server is read "
    "from the browser (the operator can allow more folders with ATLAS_ALLOWED_ROOTS, or add it on the command line)."
)
SAE_FILES = (SAELENS_CFG, SAELENS_WEIGHTS, SAELENS_SPARSITY)


@dataclass(frozen=True)
class Offer:
    label: str
    """What the page shows: the root's name and the path below it (never the server's full path)."""
    path: Path


def confined(path: str | Path, what: str) -> Path:
    """`path` (symlinks followed) when it lies inside an allowed folder; otherwise the same refusal whether
    or not it exists."""
    target = Path(os.path.abspath(Path(path).expanduser()))
    resolved = target.resolve()
    for root in allowed_roots():
        if target.is_relative_to(root) and resolved.is_relative_to(root):
            return resolved
    raise AtlasError(REFUSED.format(what=what))


def confine_table(table: dict[str, Any]) -> None:
    """Refuse a planned release table whose model, SAEs or corpus name a local path outside the allowed folders
    (an uploaded cfg.json can name any `local:` model)."""
    model = str(table["model"])
    if model.startswith("local:"):
        confined(model.removeprefix("local:"), "model")
    elif not model.startswith("embedded:") and (not HUB_MODEL.match(model) or ".." in model):
        raise AtlasError(
            f"The model must be embedded:<name> or a Hub model id (owner/name); {REFUSED.format(what='model')}"
        )
    for entry in table["saes"]:
        if entry["source"]["kind"] == "local":
            confined(Path(entry["source"]["root"]) / entry["path"], "SAE folder")
    if table["corpus"].get("kind") == "local":
        confined(table["corpus"]["path"], "corpus")


def _root_label(root: Path) -> str:
    return "data" if root == data_dir().resolve() else root.name or "allowed"


def _walk(root: Path, skip_derived: bool) -> Iterator[tuple[Path, list[str]]]:
    """Folders below `root` (at most MAX_DEPTH deep, hidden ones left out) and their file names."""
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and depth < MAX_DEPTH
            and not (skip_derived and here == data_dir().resolve() and name in DERIVED_FOLDERS)
        )
        yield here, files


def _offers(pick: Callable[[Path, list[str]], list[Path]], skip_derived: bool) -> list[Offer]:
    offers: list[Offer] = []
    for root in allowed_roots():
        if not root.is_dir():
            continue
        for folder, files in _walk(root, skip_derived):
            for path in pick(folder, files):
                offers.append(Offer(f"{_root_label(root)}/{path.relative_to(root).as_posix()}", path))
                if len(offers) >= MAX_OFFERED:
                    return offers
    return offers


def offered_saes() -> list[Offer]:
    """SAELens folders (a `cfg.json` beside the weights) under the allowed folders, the built SAEs included."""
    return _offers(lambda folder, files: [folder] if SAELENS_CFG in files and SAELENS_WEIGHTS in files else [], False)


def offered_corpora() -> list[Offer]:
    """Corpus files under the allowed folders, outside what this machine derived (indexes, models)."""
    return _offers(lambda folder, files: [folder / f for f in sorted(files) if Path(f).suffix in CORPUS_SUFFIXES], True)


def _digest(parts: list[tuple[str, bytes]]) -> str:
    hasher = hashlib.sha256()
    for name, content in sorted(parts):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return hasher.hexdigest()[:12]


def save_sae_upload(release_id: str, files: list[tuple[str, bytes]]) -> Path:
    """An uploaded SAELens SAE (`cfg.json` and `sae_weights.safetensors`, optionally `sparsity.safetensors`)
    stored under the release's uploads, named by its contents so the same upload twice is one folder."""
    names = [name for name, _ in files]
    unknown = sorted(set(names) - set(SAE_FILES))
    if unknown or len(set(names)) != len(names) or not {SAELENS_CFG, SAELENS_WEIGHTS} <= set(names):
        raise AtlasError(
            f"An uploaded SAE is {SAELENS_CFG} and {SAELENS_WEIGHTS} (and optionally {SAELENS_SPARSITY}), each once; "
            f"got {', '.join(names) or 'nothing'}."
        )
    folder = uploads(safe_id(release_id, "Release id")) / f"sae-{_digest(files)}"
    for name, content in files:
        write_bytes_atomic(folder / name, content)
    return folder


def save_corpus_upload(release_id: str, name: str, content: bytes) -> Path:
    """An uploaded corpus file (.txt, .jsonl or .parquet) stored under the release's uploads. Its name only chooses
    the reader (it is stored under a name made of its contents); one with a path separator or a control character
    (a NUL that hides another suffix) is refused, not cleaned."""
    suffix = Path(name).suffix.lower()
    if any(ord(c) < 32 or c in "/\\" for c in name) or suffix not in CORPUS_SUFFIXES:
        raise AtlasError(
            f"A corpus upload is a {', '.join(CORPUS_SUFFIXES)} file whose name has no path or control characters; "
            f"got {name!r:.80}. Rename it and upload it again."
        )
    path = uploads(safe_id(release_id, "Release id")) / f"corpus-{_digest([(name, content)])}{suffix}"
    write_bytes_atomic(path, content)
    return path
