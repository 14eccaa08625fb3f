"""The state of every view lives in the URL. Parsed and validated here, in one place.

Query parameters are strings from anyone: they can only name catalog releases and their SAEs
(never a path), and anything invalid falls back to a sane default with a warning.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from backend.polysemy.probe import DEFAULT_MODE, MODES, Mode
from backend.sources.catalog import default_release_id
from backend.sources.release import Release
from backend.steering.generate import MAX_STRENGTH
from backend.stitching.curves import DEFAULT_ORDER, ORDERS, Order

MAP_COLOURS = ("meta-latent", "density", "novelty")
PROBE_SETS = ("wordnet", "ps-eval", "upload")
MAX_CONTEXTS = 8
MAX_FILTERS = 12
MAX_CONTEXT_CHARS = 500

MAX_TEXT = 2000
MAX_PROMPT = 500
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class View:
    release: str
    sae: str
    latent: int = 0
    query: str = ""
    """Label or token search."""
    text: str = ""
    """Text typed for search by inference."""
    token: int | None = None
    """Position in `text` whose latents are ranked; None = over the whole text."""
    meta_latent: int = 0
    """Meta-latent shown on the meta-latent card."""
    threshold: float | None = None
    """Decomposition threshold; None = the meta-SAE's own."""
    stitch_threshold: float | None = None
    """Reconstruction cosine threshold for stitching; None = the default (0.7)."""
    order: Order = DEFAULT_ORDER
    """Stitching step order."""
    colour: str = MAP_COLOURS[0]
    """What colours the latent map."""
    word: str = ""
    """Word probed for polysemy."""
    contexts: tuple[str, ...] = ()
    """Contexts the word is probed in."""
    mode: Mode = DEFAULT_MODE
    """Where the word is read: PS-Eval's template or the plain context."""
    probe_set: str = PROBE_SETS[0]
    prompt: str = ""
    """Prompt the model continues, steered and not."""
    strength: float | None = None
    """Steering strength in units of the latent's largest activation; None = the page's default."""
    clamp: bool = False
    """Clamp the latent to the strength instead of adding its direction."""
    sort: str = ""
    """The column the Canonical page's latent table is sorted by; "" = its first. Checked against the table there."""
    ascending: bool = False
    """Sort that table smallest first (largest first by default)."""
    only: tuple[str, ...] = ()
    """The filters that table keeps rows by ("novel", "not seed_shared"); checked against the table there."""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def params(self, **changes: object) -> dict[str, str]:
        """Query parameters reproducing this view, with `changes` (by URL key) applied; empty values left out."""
        values = {**self._values(), **changes}
        return {key: str(val) for key, val in values.items() if val not in (None, "")}

    def _values(self) -> dict[str, object]:
        """Every URL parameter of the view and its value here (None where it is the default and `PARAMS` omits it)."""
        defaults = {f.name: f.default for f in fields(self)}
        return {p.key: p.written(getattr(self, p.field), defaults[p.field]) for p in PARAMS}


def _number(raw: str | None, name: str, kind: type[N], warnings: list[str]) -> N | None:
    """A non-negative number from a query parameter; None (and a warning) for anything else."""
    if raw in (None, ""):
        return None
    try:
        value = kind(str(raw))
    except ValueError:
        warnings.append(f"Ignored {name}={raw!r}: not a {'whole ' if kind is int else ''}number.")
        return None
    if not 0 <= value < 1e12:
        warnings.append(f"Ignored {name}={value}: must be a non-negative number.")
        return None
    return value


def _strength(raw: str | None, warnings: list[str]) -> float | None:
    """A steering strength from -MAX_STRENGTH to MAX_STRENGTH; None (and a warning) for anything else."""
    if raw in (None, ""):
        return None
    try:
        value = float(str(raw))
    except ValueError:
        value = float("nan")
    if not -MAX_STRENGTH <= value <= MAX_STRENGTH:
        warnings.append(f"Ignored the steering strength: give a number from -{MAX_STRENGTH:g} to {MAX_STRENGTH:g}.")
        return None
    return value


def _choice(raw: str | None, name: str, allowed: tuple[str, ...], warnings: list[str]) -> str:
    """One of `allowed` (the first when absent); anything else falls back with a warning."""
    if raw in (None, ""):
        return allowed[0]
    if raw not in allowed:
        warnings.append(f"Ignored {name}={raw!r}: choose one of {', '.join(allowed)}.")
        return allowed[0]
    return str(raw)


def _filters(raw: str, warnings: list[str]) -> tuple[str, ...]:
    """Comma-separated filter names, at most MAX_FILTERS, each cut to 60 characters."""
    names = tuple(dict.fromkeys(name.strip()[:60] for name in raw.split(",") if name.strip()))
    if len(names) > MAX_FILTERS:
        warnings.append(f"Kept the first {MAX_FILTERS} of {len(names)} filters.")
    return names[:MAX_FILTERS]


def _contexts(raw: str, warnings: list[str]) -> tuple[str, ...]:
    """Newline-separated contexts, at most MAX_CONTEXTS of at most MAX_CONTEXT_CHARS each."""
    lines = [line.strip()[:MAX_CONTEXT_CHARS] for line in raw.splitlines() if line.strip()]
    if len(lines) > MAX_CONTEXTS:
        warnings.append(f"Kept the first {MAX_CONTEXTS} of {len(lines)} contexts.")
    return tuple(lines[:MAX_CONTEXTS])


def default_sae(release: Release) -> str:
    """The largest SAE of the family (the one a meta-SAE usually sits on)."""
    metas = [m.over for m in release.meta_saes]
    return metas[0] if metas else release.sae_ids[-1]


def _known(params: Mapping[str, str], warnings: list[str]) -> dict[str, str]:
    """`params` with aliases renamed to their short names; an unknown name is dropped with a warning that
    lists the valid ones (a misspelt `meta=476` must not silently open meta-latent 0)."""
    names = URL_KEYS
    known: dict[str, str] = {}
    for key, value in params.items():
        short = ALIASES.get(key, key)
        if short not in names:
            warnings.append(f"Ignored the unknown parameter {key!r}; links take {', '.join(names)}.")
        elif short not in params or short == key:
            known[short] = value
    return known


def _stitch_threshold(raw: str | None, warnings: list[str]) -> float | None:
    value = _number(raw, "st", float, warnings)
    if value is not None and not 0.5 <= value <= 1:
        warnings.append(f"Ignored st={value}: the stitching threshold is a cosine from 0.5 to 1.")
        return None
    return value


Parse = Callable[[str | None, list[str]], object]


@dataclass(frozen=True)
class Param:
    """One URL parameter: its key, the `View` field it fills, how it is read (with warnings) and written."""

    key: str
    field: str
    parse: Parse | None
    """None for release and sae, which are read against the catalog."""
    keep_default: bool = False
    """Written even at its default (release, SAE and latent always show in a link)."""
    format: Callable[[Any], object] = lambda value: value
    aliases: tuple[str, ...] = ()
    """Names a hand-written link may use besides the key and the field's name."""

    def written(self, value: object, default: object) -> object:
        return self.format(value) if self.keep_default or value != default else None


def _text(limit: int, strip: bool = False) -> Parse:
    return lambda raw, _warnings: (raw or "").strip()[:limit] if strip else (raw or "")[:limit]


PARAMS = (
    Param("release", "release", None, keep_default=True),
    Param("sae", "sae", None, keep_default=True),
    Param("latent", "latent", lambda raw, w: _number(raw, "latent", int, w) or 0, keep_default=True),
    Param("q", "query", _text(200)),
    Param("text", "text", _text(MAX_TEXT)),
    Param("token", "token", lambda raw, w: _number(raw, "token", int, w)),
    Param("m", "meta_latent", lambda raw, w: _number(raw, "m", int, w) or 0, aliases=("meta",)),
    Param("t", "threshold", lambda raw, w: _number(raw, "t", float, w)),
    Param("st", "stitch_threshold", _stitch_threshold),
    Param("order", "order", lambda raw, w: _choice(raw, "order", ORDERS, w)),
    Param("colour", "colour", lambda raw, w: _choice(raw, "colour", MAP_COLOURS, w)),
    Param("word", "word", _text(50, strip=True)),
    Param("ctx", "contexts", lambda raw, w: _contexts(raw or "", w), format="\n".join),
    Param("mode", "mode", lambda raw, w: _choice(raw, "mode", MODES, w)),
    Param("set", "probe_set", lambda raw, w: _choice(raw, "set", PROBE_SETS, w)),
    Param("prompt", "prompt", _text(MAX_PROMPT)),
    Param("strength", "strength", _strength),
    Param("clamp", "clamp", lambda raw, _w: raw == "1", format=lambda on: "1" if on else None),
    Param("sort", "sort", _text(60, strip=True)),
    Param("asc", "ascending", lambda raw, _w: raw == "1", format=lambda on: "1" if on else None),
    Param("only", "only", lambda raw, w: _filters(raw or "", w), format=",".join),
)
"""The one table of a view's URL: `View.params` writes it and `parse_view` reads it."""
URL_KEYS = tuple(p.key for p in PARAMS)
"""The parameters a link can carry."""
ALIASES = {alias: p.key for p in PARAMS for alias in (p.field, *p.aliases) if alias != p.key}
"""Long names a hand-written link may use for the short parameters."""


def parse_view(params: Mapping[str, str], catalog: dict[str, Release]) -> View:
    warnings: list[str] = []
    params = _known(params, warnings)
    release_id = params.get("release") or default_release_id(catalog)
    if release_id not in catalog:
        warnings.append(f"Unknown release {release_id!r}; showing the default release instead.")
        release_id = default_release_id(catalog)
    release = catalog[release_id]
    sae_id = params.get("sae") or default_sae(release)
    if sae_id not in release.sae_ids:
        warnings.append(f"Release {release_id!r} has no SAE {sae_id!r}; showing SAE {default_sae(release)}.")
        sae_id = default_sae(release)
    values = {p.field: p.parse(params.get(p.key), warnings) for p in PARAMS if p.parse is not None}
    return View(release=release_id, sae=sae_id, **values, warnings=tuple(warnings))  # type: ignore[arg-type]


def share_link(current_url: str, page_path: str, params: Mapping[str, str], base_path: str = "") -> str:
    """The link to this view: the server of `current_url`, the page's own path (`""` for the default
    page, which is served at the root: its `url_path` would open under "Page not found"), under the
    app's `base_path`, with exactly `params` as its query."""
    parts = urlsplit(current_url)
    path = "/" + "/".join(segment for segment in (base_path.strip("/"), page_path) if segment)
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(dict(params)), ""))
