"""`python -m backend add`: bring your own SAE (or a family of them) into the catalog and index it.

Sources are local SAELens folders or Hub repos (`owner/name[@revision][/subfolder]`). The hook, the model and
the context size come from each SAE's own config (SAELens `hook_name`, `model_name`, `context_size`) unless
given; the convention from how it was trained (`convention` recorded by this project, or SAELens's
`model_from_pretrained_kwargs.center_writing_weights`: false means the raw Hugging Face stream, `hf`;
anything else TransformerLens's centred one). Everything is checked before anything is written: the SAEs
load and agree in width, the model loads and its width is theirs, the hook exists and a forward pass runs,
the corpus yields contexts. Only then is the release registered and indexed (resumable), and, if asked,
a meta-SAE trained and the family's matchings computed. The same command again resumes an interrupted add
(same sources and settings: the registration is identical, the index resumes from its checkpoint).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.errors import AtlasError
from backend.core.progress import Reporter, TqdmReporter, step_progress
from backend.data.corpus import corpus_texts, pack_contexts
from backend.index.release import DEFAULT_CONTEXTS, IndexSettings, index_release_sae
from backend.index.state import TOP_K
from backend.models.formats import all_finite
from backend.models.language import HookPoint, LanguageModel, load_language_model
from backend.models.loading import load_sae
from backend.models.sae import SAE
from backend.pipeline.visitor import confine_table, confined
from backend.sources.catalog import load_catalog, parse_release, register_release
from backend.sources.fields import safe_id
from backend.sources.registrations import added_releases
from backend.sources.release import CorpusSpec, Release
from backend.stitching.family import PairMatching
from backend.training.meta import MetaTrainConfig, train_meta_for

HUB_SOURCE = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w./-]+?))?(?:/(?P<subfolder>[\w./-]+))?$")
TRANSFORMER_LENS_NAMES = {
    "gpt2-small": "gpt2",
    "gpt2-medium": "gpt2-medium",
    "pythia-70m-deduped": "EleutherAI/pythia-70m-deduped",
}
"""TransformerLens model names SAELens configs use, and the Hugging Face ids they load from."""
PROBE_TEXT = "The quick brown fox jumps over the lazy dog."
DEFAULT_CONTEXT = 128
"""Tokens per context when neither the request nor any SAE config gives one."""


@dataclass(frozen=True)
class AddRequest:
    release_id: str
    sources: tuple[str, ...]
    """Local SAELens folders or Hub `owner/name[@revision][/subfolder]`, one per SAE of the family."""
    corpus: CorpusSpec
    model: str | None = None
    hook: str | None = None
    convention: str | None = None
    context_size: int | None = None
    contexts: int | None = None
    """Contexts to index (IndexSettings.contexts: DEFAULT_CONTEXTS of the corpus, or the whole token file)."""
    d_meta: int | None = None
    """Train a meta-SAE with this many meta-latents on the largest SAE (None: none)."""
    title: str = ""
    tokens: Path | None = None
    """Index a fixed token file instead of the corpus (so results line up with another tool's)."""
    positions: tuple[int, int | None] | None = None
    """Positions counted in each context (IndexSettings.positions; SAEDashboard's are 6:-6)."""
    top_k: int = TOP_K
    """Top examples kept per latent."""
    widths: tuple[int, ...] | None = None
    """One Matryoshka SAE as a family of its prefixes of these widths (default: its cfg.json's `matryoshka_widths`)."""
    confined: bool = False
    """A visitor's request from the app: every local path (SAEs, model, corpus) must lie in an allowed folder
    (pipeline/visitor.py), and a source that is not an absolute path is a Hub repo, never a folder."""


def source_table(source: str, confine: bool = False) -> dict[str, Any]:
    """A catalog SAE entry's `source` and `path` for a local folder or a Hub repo. Confined (a visitor's
    request), a local folder is an absolute path inside the allowed folders, checked before anything reads it."""
    folder = Path(source).expanduser()
    if confine and folder.is_absolute():
        return {"source": {"kind": "local", "root": str(confined(folder, "SAE folder"))}, "path": ""}
    if not confine and folder.is_dir():
        return {"source": {"kind": "local", "root": str(folder.resolve())}, "path": ""}
    match = HUB_SOURCE.match(source)
    if not match or ".." in source.split("/"):
        what = "a Hub repo" if confine else "a local folder nor a Hub repo"
        raise AtlasError(f"{source!r:.120} is neither {what} (owner/name[@revision][/subfolder], no '..').")
    hub: dict[str, Any] = {"kind": "hub", "repo": match["repo"]}
    if match["revision"]:
        hub["revision"] = match["revision"]
    return {"source": hub, "path": match["subfolder"] or ""}


def typed_hub_source(line: str) -> str:
    """A Hub repo typed into the app's form, as it was typed; anything else (a server path above all) is refused
    with the same sentence whether or not it exists."""
    if not HUB_SOURCE.match(line) or ".." in line.split("/"):
        raise AtlasError(
            f"{line!r:.120} is not a Hub repo (owner/name[@revision][/subfolder]); the form takes no paths."
        )
    return line


def _shown(source: str) -> str:
    """A source as the release's description names it: a Hub repo as written, a folder by its name only (the
    description is shown to visitors; the folder's place on the server is not theirs to see)."""
    folder = Path(source).expanduser()
    return folder.name if folder.is_absolute() or folder.is_dir() else source


NESTED = (
    " One Matryoshka SAE: its SAEs are its nested prefixes of {widths} latents, one dictionary (latent i is the same "
    "latent at every width)."
)


def _levels(request: AddRequest, saes: list[SAE]) -> list[int] | None:
    """The prefix widths when the request is one Matryoshka SAE (`--widths`, else its cfg.json's
    `matryoshka_widths`), ending at its width; None for any other request."""
    recorded = saes[0].cfg.extra.get("matryoshka_widths") if len(saes) == 1 else None
    widths = list(request.widths or recorded or [])
    if not widths:
        return None
    if len(saes) != 1:
        raise AtlasError("--widths reads one Matryoshka SAE as a family of its prefixes; give one --sae.")
    d_sae = saes[0].cfg.d_sae
    if widths[-1] != d_sae:
        widths.append(d_sae)
    if (
        any(not isinstance(w, int) or isinstance(w, bool) for w in widths)
        or widths != sorted(set(widths))
        or widths[0] < 1
        or widths[-1] > d_sae
    ):
        raise AtlasError(f"The prefix widths must increase from 1 to the SAE's {d_sae:,} latents, got {widths}.")
    return widths


def _convention(sae: SAE) -> str:
    recorded = sae.cfg.extra.get("convention")
    if recorded in ("hf", "transformer_lens"):
        return str(recorded)
    kwargs = sae.cfg.extra.get("model_from_pretrained_kwargs") or {}
    return "hf" if isinstance(kwargs, dict) and kwargs.get("center_writing_weights") is False else "transformer_lens"


def _one(values: set[Any], what: str, flag: str) -> Any:
    values.discard(None)
    values.discard("")
    if len(values) > 1:
        raise AtlasError(f"The SAEs disagree on the {what} ({', '.join(map(str, sorted(values)))}); give {flag}.")
    if not values:
        raise AtlasError(f"The SAEs' configs do not name the {what}; give {flag}.")
    return values.pop()


def plan_release(request: AddRequest) -> tuple[dict[str, Any], list[SAE]]:
    """The release table for `request` and its SAEs (smallest first), read from their own files."""
    release_id = safe_id(request.release_id, "--id")
    entries = [{"id": f"sae-{i}", **source_table(s, request.confined)} for i, s in enumerate(request.sources)]
    probe = parse_release(release_id, {"model": "x", "hook": "x", "source": {"kind": "local"}, "saes": entries})
    saes = [load_sae(probe, entry["id"]).sae for entry in entries]
    if len({sae.cfg.d_in for sae in saes}) != 1:
        raise AtlasError(
            f"The SAEs read vectors of different widths ({sorted({s.cfg.d_in for s in saes})}); add them separately."
        )
    levels = _levels(request, saes)
    if levels is not None:
        entries = [{**entries[0], "prefix": width} for width in levels]
        saes = [saes[0].prefix(width) for width in levels]
    order = sorted(range(len(saes)), key=lambda i: saes[i].cfg.d_sae)
    ids = [str(saes[i].cfg.d_sae) for i in order]
    if len(set(ids)) != len(ids):
        ids = [f"{sid}-{n}" for n, sid in enumerate(ids)]
    model = request.model or _one({s.cfg.model_name for s in saes}, "model", "--model")
    corpus = {k: v for k, v in vars(request.corpus).items() if v not in (None, "")}
    table: dict[str, Any] = {
        "title": request.title or f"{release_id} (added)",
        "description": f"Added with `python -m backend add` from {', '.join(_shown(s) for s in request.sources)}."
        + (NESTED.format(widths=", ".join(f"{w:,}" for w in levels)) if levels else ""),
        "model": TRANSFORMER_LENS_NAMES.get(model, model),
        "hook": request.hook or _one({s.cfg.hook_name for s in saes}, "hook", "--hook"),
        "convention": request.convention or _one({_convention(s) for s in saes}, "convention", "--convention"),
        "context_size": request.context_size or min(s.cfg.context_size or DEFAULT_CONTEXT for s in saes),
        "corpus": {**corpus, "patterns": list(request.corpus.patterns)},
        "source": {"kind": "local"},
        "saes": [{**entries[i], "id": sid, "d_sae": saes[i].cfg.d_sae} for sid, i in zip(ids, order, strict=True)],
    }
    if request.confined:
        confine_table(table)
    return table, [saes[i] for i in order]


def check_release(
    release: Release, saes: list[SAE], contexts: int, note: Callable[[str], None], confine: bool = False
) -> LanguageModel:
    """Everything that must hold before the release is registered; returns the loaded model. What is allowed
    but less than asked goes to `note`. Confined (a visitor's request), the model is a Hub id or nothing."""
    lm = load_language_model(release.model, hub_only=confine)
    d_in = saes[0].cfg.d_in
    if lm.d_model != d_in:
        raise AtlasError(f"{release.model} has width {lm.d_model} but the SAEs read {d_in}: wrong --model or --hook?")
    point = HookPoint.parse(release.hook)
    if point.layer >= len(lm.layers):
        raise AtlasError(
            f"{release.model} has {len(lm.layers)} blocks; the hook {release.hook} needs block {point.layer}."
        )
    acts = lm.activations(lm.tokenize(PROBE_TEXT).unsqueeze(0), release.hook, release.convention)
    if acts.shape[-1] != d_in or not all_finite(acts):
        raise AtlasError(f"A forward pass to {release.hook} did not give finite {d_in}-wide activations.")
    tokens = pack_contexts(corpus_texts(release.corpus), lm.tokenizer, lm.bos_id, release.context_size, contexts)
    if len(tokens) < contexts:
        note(f"The corpus fills {len(tokens)} contexts of {release.context_size} tokens, not {contexts}.")
    return lm


def _quiet(_: str) -> None:
    pass


def add_release(
    request: AddRequest,
    report: Reporter | None = None,
    note: Callable[[str], None] = lambda text: print(f"note: {text}"),
) -> Release:
    """Check, register, index (resumable) and optionally decompose and match the family; returns the release.
    Progress goes to `report` (terminal bars by default), notes on what is less than asked to `note`."""
    report = report or TqdmReporter()
    table, saes = plan_release(request)
    if request.release_id in load_catalog() and added_releases().get(request.release_id) != table:
        raise AtlasError(f"A release {request.release_id!r} is in the catalog already; choose another --id.")
    release = parse_release(request.release_id, table)
    trained_on = {str(s.cfg.extra.get("dataset_path") or "") for s in saes} - {""}
    if trained_on and request.corpus.kind == "wordnet":
        note(
            f"The SAEs were trained on {', '.join(sorted(trained_on))}; a Hub corpus of that dataset indexes that text."
        )
    # With a token file the corpus is checked but not what gets indexed, so its length is no news.
    contexts = request.contexts or DEFAULT_CONTEXTS
    check_release(release, saes, contexts, note if request.tokens is None else _quiet, request.confined)
    if request.d_meta is not None:
        MetaTrainConfig(d_meta=request.d_meta)  # refuses bad sizes before anything is written
    register_release(release.id, table)
    settings = IndexSettings(request.contexts, request.tokens, request.positions, top_k=request.top_k)
    for sae_id in release.sae_ids:
        index_release_sae(release, sae_id, settings, report)
    if request.d_meta is not None:
        progress = step_progress(report, f"train meta-SAE on {release.id}/{release.sae_ids[-1]}")
        train_meta_for(release, release.sae_ids[-1], MetaTrainConfig(d_meta=request.d_meta), progress)
    for small, large in release.neighbour_pairs:
        PairMatching(release, small, large).get()
    return release
