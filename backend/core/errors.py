"""Typed errors. Every message says what went wrong and what to do about it."""


class AtlasError(Exception):
    """Base class: the app shows these as `st.error(str(err))`, never as a traceback."""


class SAEFormatError(AtlasError):
    """Weights or config on disk are malformed, inconsistent or unsafe."""


class SourceUnavailable(AtlasError):
    """A Hub repo, revision, subfolder or local path cannot be reached or does not exist."""


class CatalogError(AtlasError):
    """The release catalog is malformed or does not name what was asked for."""


class MissingDependency(AtlasError):
    """A package or data file the embedded default needs is not installed."""


class StoreError(AtlasError):
    """A store file is corrupt, foreign or from another format version."""


class IncompatibleError(AtlasError):
    """Two objects that must agree (an SAE and a meta-SAE, two SAEs of a family) do not."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when the message is empty), for
    messages that quote a library's error without its traceback-sized detail."""
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:limit]


class DiskFull(AtlasError):
    """A write ran out of disk space; what was there before is left as it was."""
