"""The release catalog: a TOML data file naming every SAE family the dashboard can show.

`assets/catalog.toml` ships with the app; files named in `ATLAS_CATALOG` (os.pathsep-separated)
are merged over it, later files winning per release. Meta-SAEs trained on this machine are
recorded in `<data dir>/registrations.json` and added to their release's meta-SAEs.
"""

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from backend.core.config import ASSETS, data_dir
from backend.core.errors import CatalogError
from backend.core.files import write_json_atomic
from backend.core.paths import ReleasePaths
from backend.sources.hub import Location

SHIPPED_CATALOG = ASSETS / "catalog.toml"
CATALOG_ENV = "ATLAS_CATALOG"
REGISTRATIONS = "registrations.json"
Convention = Literal["hf", "transformer_lens"]


@dataclass(frozen=True)
class SAEEntry:
    id: str
    location: Location
    layout: Literal["saelens", "paper-meta"] = "saelens"
    d_sae: int | None = None
    """Size, for SAEs this machine builds (Hub releases read it from cfg.json)."""
    k: int | None = None
    neuronpedia_id: str | None = None


@dataclass(frozen=True)
class MetaEntry(SAEEntry):
    over: str = ""
    """Id of the SAE whose decoder rows this meta-SAE decomposes."""
    threshold: float | None = None
    """Inference threshold; None = read from the files."""


@dataclass(frozen=True)
class CorpusSpec:
    kind: Literal["wordnet", "hub"]
    repo: str = ""
    patterns: tuple[str, ...] = ("*.parquet",)
    column: str = "text"
    revision: str | None = None


@dataclass(frozen=True)
class Release:
    id: str
    title: str
    model: str
    """`embedded:<name>`, `local:<path>` or a Hub model id such as `gpt2`."""
    hook: str
    convention: Convention
    context_size: int
    corpus: CorpusSpec
    saes: tuple[SAEEntry, ...]
    meta_saes: tuple[MetaEntry, ...] = ()
    description: str = ""
    built: bool = False
    """True when `python -m backend build` makes it on this machine."""
    default: bool = False
    outlier_norm_multiple: float | None = None
    """Tokens whose activation norm exceeds this multiple of the median are left out of training,
    evaluation and the index (massive-activation tokens); None keeps every token."""
    training: dict[str, Any] = field(default_factory=dict)
    """How a built release trains its SAEs: `backend.training.trainer.TrainConfig` fields (architecture, l1_coef,
    lr, ...) shared by every size; each SAE's `d_sae` and `k` come from its own entry."""

    def sae(self, sae_id: str) -> SAEEntry:
        for entry in self.saes:
            if entry.id == sae_id:
                return entry
        raise CatalogError(f"Release {self.id!r} has no SAE {sae_id!r}; it has {', '.join(self.sae_ids)}.")

    @property
    def sae_ids(self) -> list[str]:
        return [entry.id for entry in self.saes]

    def meta_for(self, sae_id: str) -> list[MetaEntry]:
        return [meta for meta in self.meta_saes if meta.over == sae_id]

    def meta(self, meta_id: str) -> MetaEntry:
        for entry in self.meta_saes:
            if entry.id == meta_id:
                return entry
        raise CatalogError(f"Release {self.id!r} has no meta-SAE {meta_id!r}.")

    @property
    def paths(self) -> ReleasePaths:
        """Where this machine keeps what it builds or indexes for the release."""
        return ReleasePaths.of(self.id)


def _location(raw: dict[str, Any], path: str, release_id: str) -> Location:
    kind = raw.get("kind", "built")
    if kind == "built":
        return Location("local", path=str(ReleasePaths.of(release_id).folder(path)))
    if kind == "local":
        return Location("local", path=str(Path(raw.get("root", ".")).expanduser() / path))
    if kind == "hub":
        if not raw.get("repo"):
            raise CatalogError(f"Release {release_id!r}: a hub source needs a repo.")
        return Location("hub", repo=raw["repo"], path=path, revision=raw.get("revision"))
    raise CatalogError(f"Release {release_id!r}: unknown source kind {kind!r} (built, local or hub).")


def _entry(raw: dict[str, Any], release_id: str, default_source: dict[str, Any], meta: bool) -> SAEEntry:
    if "id" not in raw:
        raise CatalogError(f"Release {release_id!r}: every SAE needs an id.")
    common = {
        "id": str(raw["id"]),
        "location": _location(raw.get("source", default_source), raw.get("path", ""), release_id),
        "layout": raw.get("layout", "saelens"),
        "d_sae": raw.get("d_sae"),
        "k": raw.get("k"),
        "neuronpedia_id": raw.get("neuronpedia_id"),
    }
    if meta:
        return MetaEntry(**common, over=str(raw.get("over", "")), threshold=raw.get("threshold"))
    return SAEEntry(**common)


def parse_release(release_id: str, raw: dict[str, Any]) -> Release:
    try:
        source = raw.get("source", {"kind": "built"})
        corpus_raw = dict(raw.get("corpus", {"kind": "wordnet"}))
        corpus_raw["patterns"] = tuple(corpus_raw.get("patterns", ("*.parquet",)))
        release = Release(
            id=release_id,
            title=raw.get("title", release_id),
            description=raw.get("description", ""),
            model=raw["model"],
            hook=raw["hook"],
            convention=raw.get("convention", "hf"),
            context_size=int(raw.get("context_size", 128)),
            corpus=CorpusSpec(**corpus_raw),
            saes=tuple(_entry(e, release_id, source, meta=False) for e in raw.get("saes", [])),
            meta_saes=tuple(_entry(e, release_id, source, meta=True) for e in raw.get("meta_saes", [])),  # type: ignore[misc]
            built=source.get("kind") == "built",
            default=bool(raw.get("default", False)),
            outlier_norm_multiple=raw.get("outlier_norm_multiple"),
            training=dict(raw.get("training", {})),
        )
    except (KeyError, TypeError) as err:
        raise CatalogError(f"Release {release_id!r} in the catalog is malformed: {err}.") from err
    if not release.saes:
        raise CatalogError(f"Release {release_id!r} lists no SAEs.")
    for meta in release.meta_saes:
        release.sae(meta.over)
    return release


def catalog_files() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(CATALOG_ENV, "").split(os.pathsep) if p]
    return [SHIPPED_CATALOG, *extra]


def load_catalog() -> dict[str, Release]:
    """All releases, in file order; a later file's release replaces an earlier one of the same id."""
    raw: dict[str, Any] = {}
    for path in catalog_files():
        if not path.exists():
            continue
        try:
            raw.update(tomllib.loads(path.read_text()).get("releases", {}))
        except tomllib.TOMLDecodeError as err:
            raise CatalogError(f"Catalog file {path} is not valid TOML: {err}.") from err
    for rid, metas in _registrations().items():
        if rid in raw:
            known = {m.get("id") for m in raw[rid].get("meta_saes", [])}
            extra = [{**m, "source": {"kind": "local", "root": "/"}} for m in metas if m.get("id") not in known]
            raw[rid] = {**raw[rid], "meta_saes": [*raw[rid].get("meta_saes", []), *extra]}
    return {rid: parse_release(rid, body) for rid, body in raw.items()}


def _registrations() -> dict[str, list[dict[str, Any]]]:
    path = data_dir() / REGISTRATIONS
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CatalogError(f"{path} is corrupt ({err}); delete it and register the meta-SAEs again.") from err
    return data if isinstance(data, dict) else {}


def register_meta_sae(release_id: str, entry: dict[str, Any]) -> None:
    """Record a meta-SAE trained here (atomically); it appears in the catalog from the next load."""
    data = _registrations()
    data[release_id] = [m for m in data.get(release_id, []) if m.get("id") != entry["id"]] + [entry]
    write_json_atomic(data_dir() / REGISTRATIONS, data)


def default_release_id(catalog: dict[str, Release]) -> str:
    """The last release marked default (so a test or local catalog can override the shipped one)."""
    defaults = [rid for rid, rel in catalog.items() if rel.default]
    if defaults:
        return defaults[-1]
    if not catalog:
        raise CatalogError("The catalog holds no releases.")
    return next(iter(catalog))


def get_release(release_id: str) -> Release:
    catalog = load_catalog()
    if release_id not in catalog:
        raise CatalogError(f"No release {release_id!r} in the catalog; known: {', '.join(catalog)}.")
    return catalog[release_id]
