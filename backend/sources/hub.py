"""Where files come from: the Hugging Face Hub (through its normal cache) or a local folder."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from huggingface_hub import hf_hub_download, snapshot_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from backend.core.errors import SourceUnavailable


@dataclass(frozen=True)
class Location:
    """A folder of files: `hub` = repo@revision/subfolder, `local` = a path on this machine."""

    kind: Literal["hub", "local"]
    repo: str = ""
    """Hub repo id (kind hub)."""
    path: str = ""
    """Subfolder inside the repo (kind hub) or folder path (kind local)."""
    revision: str | None = None
    """Branch, tag or commit to pin (kind hub); None = main."""
    repo_type: Literal["model", "dataset"] = "model"

    def describe(self) -> str:
        if self.kind == "local":
            return self.path
        rev = f"@{self.revision}" if self.revision else ""
        sub = f"/{self.path}" if self.path else ""
        return f"hf://{self.repo}{rev}{sub}"


def _unavailable(loc: Location, err: Exception) -> SourceUnavailable:
    what = loc.describe()
    if isinstance(err, RevisionNotFoundError):
        return SourceUnavailable(f"{what}: revision {loc.revision!r} does not exist on the Hub.")
    if isinstance(err, RepositoryNotFoundError):
        return SourceUnavailable(f"{what}: repository {loc.repo!r} does not exist on the Hub (or is private).")
    if isinstance(err, EntryNotFoundError) and not isinstance(err, LocalEntryNotFoundError):
        return SourceUnavailable(f"{what}: the file or subfolder does not exist in {loc.repo!r}.")
    return SourceUnavailable(
        f"{what} is not in the local Hugging Face cache and the Hub cannot be reached. "
        f"Connect to the internet (and unset HF_HUB_OFFLINE) or fetch it once with "
        f"`hf download {loc.repo}{' --revision ' + loc.revision if loc.revision else ''}`."
    )


def fetch_file(loc: Location, filename: str, required: bool = True) -> Path | None:
    """A local path to `filename` inside `loc`, downloading from the Hub into its cache when needed."""
    if loc.kind == "local":
        path = Path(loc.path).expanduser() / filename
        if path.exists():
            return path
        if required:
            raise SourceUnavailable(f"{path} does not exist.")
        return None
    try:
        return Path(
            hf_hub_download(
                loc.repo,
                filename,
                subfolder=loc.path or None,
                revision=loc.revision,
                repo_type=loc.repo_type,
            )
        )
    except (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as err:
        if not required and isinstance(err, EntryNotFoundError):
            return None
        raise _unavailable(loc, err) from err
    except HFValidationError as err:
        raise SourceUnavailable(f"{loc.describe()}: not a valid Hub repo id or revision ({err}).") from err


def cached_file(loc: Location, filename: str) -> Path | None:
    """`filename` of `loc` if it is on this machine already (a local folder, or the Hub cache), never downloading:
    for what must answer on every page rerun."""
    if loc.kind == "local":
        path = Path(loc.path).expanduser() / filename
        return path if path.exists() else None
    name = f"{loc.path}/{filename}" if loc.path else filename
    found = try_to_load_from_cache(loc.repo, name, revision=loc.revision, repo_type=loc.repo_type)
    return Path(found) if isinstance(found, str) else None


def fetch_folder(loc: Location, filenames: list[str], optional: list[str] | None = None) -> Path:
    """Fetch the named files of `loc` and return the local folder that holds them."""
    folder: Path | None = None
    for name in filenames:
        path = fetch_file(loc, name)
        assert path is not None
        folder = path.parent
    for name in optional or []:
        fetch_file(loc, name, required=False)
    if folder is None:
        raise ValueError("fetch_folder needs at least one file name")
    return folder


def fetch_snapshot(loc: Location, patterns: list[str], cached_only: bool = False) -> Path:
    """A whole repo (or the files matching `patterns`), e.g. a dataset's parquet shards; with `cached_only`, only
    what the local Hub cache holds (never a download)."""
    try:
        return Path(
            snapshot_download(
                loc.repo, revision=loc.revision, repo_type=loc.repo_type, allow_patterns=patterns,
                local_files_only=cached_only,
            )
        )  # fmt: skip
    except (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise _unavailable(loc, err) from err
