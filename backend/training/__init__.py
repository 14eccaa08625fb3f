"""Training SAEs and meta-SAEs, and the quality figures measured after training."""

__all__ = ["meta", "metrics", "sparse", "trainer"]
