"""`python -m backend publish`: a release's derived artifacts in a Hub repo layout, so a deployment serves it
without computing anything.

The repo mirrors the release's folder on this machine (backend/core/paths.py): the files of every published,
current artifact (`release_artifacts`: SAEs and meta-SAEs built here, indexes, matchings, curves, maps, probe
results) and the build summary; never scratch (corpus, activations, checkpoints) nor locks and logs. Beside them,
`catalog.json`: the release's catalog table with `published = {repo = ...}`, ready for `ATLAS_CATALOG`. Every
artifact is keyed on the SHA-256 of the weights it came from (`backend/models/loading.py: source_key`), not on
paths, so the copies read back from the Hub cache are recognised as current. Uploading uses huggingface_hub.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from backend.core.artifacts import published_files
from backend.core.errors import AtlasError, first_line
from backend.pipeline.artifacts import release_artifacts
from backend.sources.catalog import release_table
from backend.sources.fields import hub_repo
from backend.sources.hub import Location
from backend.sources.release import Release

CATALOG = "catalog.json"


def publish_folder(release: Release, out: Path, repo: str, revision: str | None = None) -> Path:
    """Write `release`'s artifacts and its catalog entry (pointing at `repo`) into `out`; returns `out`."""
    repo = hub_repo(repo, "--repo")
    source = release.paths.root
    if not (source / "index").is_dir():
        raise AtlasError(f"{release.id} has no index on this machine; build or index it before publishing.")
    if out.exists() and any(out.iterdir()):
        raise AtlasError(f"{out} is not empty; publish into a new folder.")
    records = [release.paths.summary] if release.paths.summary.exists() else []
    for path in [*published_files(release_artifacts(release)), *records]:
        if path.resolve().is_relative_to(source.resolve()):
            target = out / path.resolve().relative_to(source.resolve())
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    table = release_table(release.id)
    table["saes"] = [_entry(raw, e.location, source, out) for raw, e in zip(table["saes"], release.saes, strict=True)]
    table["meta_saes"] = [
        _entry(raw, e.location, source, out)
        for raw, e in zip(table.get("meta_saes", []), release.meta_saes, strict=True)
    ]
    table["source"] = {"kind": "built"}
    table["published"] = {"repo": repo, **({"revision": revision} if revision else {})}
    (out / CATALOG).write_text(json.dumps({"releases": {release.id: table}}, indent=1))
    return out


def _entry(raw: dict[str, Any], location: Location, source: Path, out: Path) -> dict[str, Any]:
    """An SAE entry of the published catalog: Hub SAEs stay where they are; SAEs on this machine are read from
    the published repo (those outside the release folder are copied into `saes/` first)."""
    if location.kind == "hub":
        hub = {"kind": "hub", "repo": location.repo, **({"revision": location.revision} if location.revision else {})}
        return {**raw, "source": hub, "path": location.path}
    folder = Path(location.path)
    if folder.resolve().is_relative_to(source.resolve()):
        relative = folder.resolve().relative_to(source.resolve())
    else:
        relative = Path("saes") / str(raw["id"])
        shutil.copytree(folder, out / relative)
    kept = {key: value for key, value in raw.items() if key not in ("source", "path")}
    return {**kept, "path": str(relative), "source": {"kind": "built"}}


def upload(out: Path, repo: str) -> str:
    """Upload a published folder to the Hub (creating the repo); returns the commit URL."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise AtlasError(f"The Hub is offline here; {out} is ready: upload it later with `hf upload {repo} {out}`.")
    api = HfApi()
    try:
        api.create_repo(repo, exist_ok=True)
        return str(api.upload_folder(folder_path=out, repo_id=repo, commit_message="SAE Atlas release"))
    except Exception as err:
        raise AtlasError(f"Upload to {repo} failed ({first_line(err)}); {out} is ready to upload again.") from err
