"""The app's URL state and escaped HTML for the pages."""

__all__ = ["render", "urlstate"]
