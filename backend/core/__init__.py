"""Process-wide settings, typed errors, atomic files and keyed caches, progress reporting."""

__all__ = ["config", "errors", "files"]
