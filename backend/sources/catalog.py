"""The release catalog: a TOML data file naming every SAE family the dashboard can show.

`assets/catalog.toml` ships with the app; files named in `ATLAS_CATALOG` (os.pathsep-separated)
are merged over it, later files winning per release. Meta-SAEs trained on this machine are
recorded in `<data dir>/registrations.json` and added to their release's meta-SAEs.
"""

import json
import os
import tomllib
from dataclasses import fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.core.config import ASSETS, data_dir
from backend.core.errors import CatalogError
from backend.core.files import locked, write_json_atomic
from backend.core.paths import ReleasePaths
from backend.sources.fields import (
    MAX_CONTEXT,
    choice,
    flag,
    hub_repo,
    inside,
    no_parent,
    number,
    safe_id,
    table,
    text,
    whole,
)
from backend.sources.hub import Location, fetch_snapshot
from backend.sources.registrations import ADDED, REGISTRATIONS, added_releases, registered_meta_saes
from backend.sources.release import CorpusSpec, MetaEntry, Release, SAEEntry, SeedEntry, published_snapshot

SHIPPED_CATALOG = ASSETS / "catalog.toml"
CATALOG_ENV = "ATLAS_CATALOG"
"""Releases added with `python -m backend add`, as catalog tables (the catalog files win on a shared id)."""
CONVENTIONS = ("hf", "transformer_lens")
LAYOUTS = ("saelens", "paper-meta")
SOURCE_KINDS = ("built", "local", "hub")
CORPUS_KINDS = ("wordnet", "hub", "local")


def _location(raw: Any, path: Any, release_id: str, where: str, published: Location | None = None) -> Location:
    raw = table(raw, f"{where} source")
    kind = choice(raw.get("kind"), f"{where} source kind", SOURCE_KINDS, "built")
    if kind == "built" and published is not None:
        return Location("hub", repo=published.repo, path=no_parent(path, f"{where} path"), revision=published.revision)
    if kind == "built":
        return Location("local", path=str(inside(ReleasePaths.of(release_id).root, path, f"{where} path")))
    if kind == "local":
        root = no_parent(raw.get("root"), f"{where} source root") or "."
        return Location("local", path=str(Path(root).expanduser() / no_parent(path, f"{where} path")))
    repo = hub_repo(raw.get("repo"), f"{where} source repo")
    revision = text(raw.get("revision"), f"{where} source revision") or None
    return Location("hub", repo=repo, path=no_parent(path, f"{where} path"), revision=revision)


def _entry(
    raw: Any,
    release_id: str,
    default_source: dict[str, Any],
    meta: bool,
    published: Location | None = None,
    seed: bool = False,
) -> SAEEntry:
    raw = table(raw, f"Release {release_id!r}: an SAE entry")
    if "id" not in raw:
        raise CatalogError(f"Release {release_id!r}: every SAE needs an id.")
    where = f"Release {release_id!r}, {'meta-SAE' if meta else 'SAE'} {raw['id']!r:.40}"
    entry = SAEEntry(
        id=safe_id(raw["id"], where),
        location=_location(raw.get("source", default_source), raw.get("path", ""), release_id, where, published),
        layout=choice(raw.get("layout"), f"{where} layout", LAYOUTS, "saelens"),  # type: ignore[arg-type]
        d_sae=whole(raw.get("d_sae"), f"{where} d_sae"),
        k=whole(raw.get("k"), f"{where} k"),
        neuronpedia_id=text(raw.get("neuronpedia_id"), f"{where} neuronpedia_id") or None,
        prefix=whole(raw.get("prefix"), f"{where} prefix"),
    )
    if entry.prefix is not None and entry.d_sae not in (None, entry.prefix):
        raise CatalogError(f"{where}: d_sae {entry.d_sae} differs from its prefix {entry.prefix}; give one of them.")
    if entry.prefix is not None:
        entry = replace(entry, d_sae=entry.prefix)
    if seed:
        of = safe_id(raw.get("of", ""), f"{where} of")
        return SeedEntry(**{f.name: getattr(entry, f.name) for f in fields(entry)}, of=of)
    if meta:
        over = safe_id(raw.get("over", ""), f"{where} over")
        threshold = number(raw.get("threshold"), f"{where} threshold")
        return MetaEntry(**{f.name: getattr(entry, f.name) for f in fields(entry)}, over=over, threshold=threshold)
    return entry


def _corpus(raw: Any, where: str) -> CorpusSpec:
    raw = table(raw if raw is not None else {"kind": "wordnet"}, f"{where} corpus")
    patterns = raw.get("patterns", ("*.parquet",))
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(x, str) for x in patterns):
        raise CatalogError(f"{where} corpus patterns must be a list of strings.")
    return CorpusSpec(
        kind=choice(raw.get("kind"), f"{where} corpus kind", CORPUS_KINDS, "wordnet"),  # type: ignore[arg-type]
        repo=hub_repo(raw.get("repo"), f"{where} corpus repo") if raw.get("kind") == "hub" else "",
        patterns=tuple(patterns),
        column=text(raw.get("column"), f"{where} corpus column", default="text"),
        revision=text(raw.get("revision"), f"{where} corpus revision") or None,
        path=no_parent(raw.get("path"), f"{where} corpus path"),
    )


def parse_release(release_id: str, raw: dict[str, Any]) -> Release:
    """One release of the catalog, every field type-checked (a `CatalogError` naming the field otherwise)."""
    release_id = safe_id(release_id, "A release")
    where = f"Release {release_id!r}"
    raw = table(raw, where)
    source = table(raw.get("source", {"kind": "built"}), f"{where} source")
    for required in ("model", "hook"):
        if not text(raw.get(required), f"{where} {required}"):
            raise CatalogError(f"{where} in the catalog needs a {required}.")
    saes, metas, seeds = raw.get("saes", []), raw.get("meta_saes", []), raw.get("second_seeds", [])
    published = _published(raw.get("published"), where)
    if not all(isinstance(entries, list) for entries in (saes, metas, seeds)):
        raise CatalogError(f"{where}: saes, meta_saes and second_seeds must be lists of tables.")
    release = Release(
        id=release_id,
        title=text(raw.get("title"), f"{where} title", default=release_id),
        description=text(raw.get("description"), f"{where} description"),
        model=raw["model"],
        hook=raw["hook"],
        convention=choice(raw.get("convention"), f"{where} convention", CONVENTIONS, "hf"),  # type: ignore[arg-type]
        context_size=whole(raw.get("context_size", 128), f"{where} context_size", 2, MAX_CONTEXT) or 128,
        corpus=_corpus(raw.get("corpus"), where),
        saes=tuple(_entry(e, release_id, source, False, published) for e in saes),
        meta_saes=tuple(_entry(e, release_id, source, True, published) for e in metas),  # type: ignore[misc]
        second_seeds=tuple(_entry(e, release_id, source, False, published, seed=True) for e in seeds),  # type: ignore[misc]
        built=source.get("kind", "built") == "built" and published is None,
        default=raw.get("default", False) is True,
        outlier_norm_multiple=number(raw.get("outlier_norm_multiple"), f"{where} outlier_norm_multiple", 1.0),
        training=table(raw.get("training"), f"{where} training"),
        published=published,
        data_of=safe_id(raw["data_of"], f"{where} data_of") if "data_of" in raw else None,
        family=text(raw.get("family"), f"{where} family"),
        on_request=flag(raw.get("on_request", False), f"{where} on_request"),
        control=safe_id(raw["control"], f"{where} control") if "control" in raw else "",
    )
    if not release.saes:
        raise CatalogError(f"{where} lists no SAEs.")
    ids = [*release.sae_ids, *(m.id for m in release.meta_saes), *(s.id for s in release.second_seeds)]
    if len(set(ids)) != len(ids):
        raise CatalogError(f"{where}: SAE, meta-SAE and second-seed ids must be distinct, got {', '.join(ids)}.")
    for meta in release.meta_saes:
        release.sae(meta.over)
    for twin in release.second_seeds:
        if twin.of not in release.sae_ids or [s.of for s in release.second_seeds].count(twin.of) > 1:
            raise CatalogError(f"{where}: second seed {twin.id!r} must name one family SAE in `of`, once.")
        if twin.d_sae != release.sae(twin.of).d_sae:
            raise CatalogError(
                f"{where}: second seed {twin.id!r} has d_sae {twin.d_sae} but SAE {twin.of} has "
                f"{release.sae(twin.of).d_sae}: a second seed differs from its SAE only in the seed."
            )
    return release


def _published(raw: Any, where: str) -> Location | None:
    if raw is None:
        return None
    raw = table(raw, f"{where} published")
    if not raw.get("repo"):
        raise CatalogError(f"{where}: `published` needs the repo written by `python -m backend publish`.")
    repo = hub_repo(raw.get("repo"), f"{where} published repo")
    return Location("hub", repo=repo, revision=text(raw.get("revision"), f"{where} published revision") or None)


def download_published(release: Release) -> None:
    """Fetch a published release's repo into the Hub cache (a no-op offline when it is there, and for a release
    that is not published)."""
    if release.published is not None:
        fetch_snapshot(release.published, ["*"])
        published_snapshot.cache_clear()


def catalog_files() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(CATALOG_ENV, "").split(os.pathsep) if p]
    return [SHIPPED_CATALOG, *extra]


DATA_FIELDS = ("model", "hook", "convention", "context_size", "corpus", "outlier_norm_multiple")
"""What a family trained from another release's data (`data_of`) takes from that release's table."""


def load_catalog() -> dict[str, Release]:
    """All releases, in file order; a later file's release replaces an earlier one of the same id. Parsed again only
    when a file it is read from changes (a page asks for a release many times a rerun)."""
    return dict(_parsed(_sources()))


def _sources() -> tuple[tuple[str, int, int, int], ...]:
    """Each file the catalog is read from, with what tells a rewrite (inode: files are replaced, not edited)."""
    found = []
    for path in (*catalog_files(), data_dir() / ADDED, data_dir() / REGISTRATIONS):
        try:
            stat = path.stat()
            found.append((str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            found.append((str(path), 0, 0, 0))
    return tuple(found)


@lru_cache(maxsize=8)
def _parsed(_sources: tuple[tuple[str, int, int, int], ...]) -> dict[str, Release]:
    raw = raw_catalog()
    releases = {rid: parse_release(rid, _with_data(rid, body, raw)) for rid, body in raw.items()}
    for release in releases.values():
        _check_control(release, releases)
    return _linked(releases)


def _check_control(release: Release, releases: dict[str, Release]) -> None:
    """A `control` names another family trained from the same data (CatalogError otherwise): a typo there would
    silently drop the comparison it asks for."""
    if not release.control:
        return
    other = releases.get(release.control)
    same_data = other is not None and (other.data_of or other.id) == (release.data_of or release.id)
    if other is None or other.id == release.id or not same_data:
        raise CatalogError(
            f"Release {release.id!r}: control {release.control!r} must name another release of the catalog trained "
            f"from the same data ({release.data_of or release.id!r}, through `data_of`)."
        )


def release_table(release_id: str) -> dict[str, Any]:
    """A release's catalog table with everything it reads from another release (`data_of`) written in, standing
    alone (what `publish` writes for a deployment, which has no other release's data)."""
    raw = raw_catalog()
    table = dict(_with_data(release_id, raw[release_id], raw))
    for name in ("data_of", "on_request", "control"):  # what links it to the families of this machine
        table.pop(name, None)
    return table


def _with_data(release_id: str, body: Any, raw: dict[str, Any]) -> Any:
    """A `data_of` family's table with the data fields of the release it names (CatalogError when it sets them)."""
    if not isinstance(body, dict) or "data_of" not in body:
        return body
    where = f"Release {release_id!r:.40}"
    owner = raw.get(body["data_of"]) if isinstance(body["data_of"], str) else None
    if not isinstance(owner, dict) or "data_of" in owner or body["data_of"] == release_id:
        raise CatalogError(f"{where}: data_of must name another release of the catalog that has its own data.")
    if own := [name for name in DATA_FIELDS if name in body]:
        raise CatalogError(f"{where} reads its data from {body['data_of']!r}: it cannot set {', '.join(own)}.")
    return {**{name: owner[name] for name in DATA_FIELDS if name in owner}, **body}


def _linked(releases: dict[str, Release]) -> dict[str, Release]:
    """Each family built here with the others built here from the same data (`siblings`). A family whose data is a
    release not built here (published, say) has none: its build says why it cannot run (`data_source`)."""
    groups: dict[str, list[str]] = {}
    for release in releases.values():
        owner = releases[release.data_of] if release.data_of else release
        if release.built and owner.built:
            groups.setdefault(owner.id, []).append(release.id)
    return {
        rid: replace(release, siblings=tuple(o for o in groups.get(release.data_of or rid, []) if o != rid))
        if release.built else release
        for rid, release in releases.items()
    }  # fmt: skip


def raw_catalog() -> dict[str, Any]:
    """Every release's table as written in the catalog files (TOML, or JSON for files ending in .json), with
    the releases added and meta-SAEs registered on this machine merged in."""
    raw: dict[str, Any] = {}
    for path in catalog_files():
        if not path.exists():
            continue
        try:
            content = path.read_text(encoding="utf-8")
            parsed = json.loads(content) if path.suffix == ".json" else tomllib.loads(content)
            raw.update(parsed.get("releases", {}))
        except (tomllib.TOMLDecodeError, ValueError, AttributeError) as err:
            raise CatalogError(f"Catalog file {path} is not a valid catalog ({err}).") from err
    for rid, added in added_releases().items():
        raw.setdefault(rid, added)
    for rid, metas in registered_meta_saes().items():
        if rid in raw:
            known = {m.get("id") for m in raw[rid].get("meta_saes", [])}
            extra = [{**m, "source": {"kind": "local", "root": "/"}} for m in metas if m.get("id") not in known]
            raw[rid] = {**raw[rid], "meta_saes": [*raw[rid].get("meta_saes", []), *extra]}
    return raw


def register_release(release_id: str, table: dict[str, Any]) -> None:
    """Record a release added on this machine (checked by `parse_release` first); it is in the catalog from
    the next load. Under the same lock as meta-SAE registrations."""
    parse_release(release_id, table)
    with locked(data_dir() / f"{REGISTRATIONS}.lock"):
        data = added_releases()
        data[release_id] = table
        write_json_atomic(data_dir() / ADDED, data)


def register_meta_sae(release_id: str, entry: dict[str, Any]) -> None:
    """Record a meta-SAE trained here; it appears in the catalog from the next load. Read, change and
    write happen under one lock, so concurrent registrations are all kept."""
    with locked(data_dir() / f"{REGISTRATIONS}.lock"):
        data = registered_meta_saes()
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


def requested(release: Release) -> bool:
    """False for a family built on request (`on_request`) whose build has not been asked for yet (no progress or
    summary file): until then it is neither built after the release whose data it reads nor compared."""
    return not release.on_request or release.paths.progress.exists() or release.paths.summary.exists()


def families_of(release: Release) -> list[Release]:
    """Every family trained from `release`'s data and asked for (`requested`; `release` itself always, as its own
    build plans its comparisons before it is under way), the release that owns the data first, the others in catalog
    order; [] when it has no other."""
    owner = get_release(release.data_of) if release.data_of else release
    others = [other for other in map(get_release, owner.siblings) if other.id == release.id or requested(other)]
    return [owner, *others] if others else []


def on_request(release: Release) -> list[Release]:
    """The families trained from `release`'s data that are built only when asked for, and not asked for yet."""
    owner = get_release(release.data_of) if release.data_of else release
    return [other for other in map(get_release, owner.siblings) if not requested(other)]


def data_source(release: Release) -> Release | None:
    """The release whose data `release` is trained from (None when it has its own); CatalogError when that one is not
    built here, so there are no activations to read."""
    if release.data_of is None:
        return None
    owner = get_release(release.data_of)
    if not owner.built:
        raise CatalogError(
            f"{release.id} is trained from the data of {owner.id}, which is not built here (it is read from the Hub "
            f"or a folder); build {owner.id} here first, or give {release.id} its own model, hook and corpus."
        )
    return owner


def trained_from(release: Release) -> list[Release]:
    """The families trained from `release`'s data (`data_of`), in catalog order: its build is followed by theirs."""
    return [other for other in map(get_release, release.siblings) if other.data_of == release.id and requested(other)]


def get_release(release_id: str) -> Release:
    catalog = load_catalog()
    if release_id not in catalog:
        raise CatalogError(f"No release {release_id!r} in the catalog; known: {', '.join(catalog)}.")
    return catalog[release_id]
