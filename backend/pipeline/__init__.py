"""The embedded build as named stages, and its progress file and lock."""

__all__ = ["build", "progress"]
