"""SAEs (architectures, on-disk formats, loading) and the language models they read."""

__all__ = ["embedded", "formats", "geometry", "language", "loading", "sae"]
