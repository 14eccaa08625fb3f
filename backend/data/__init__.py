"""Text corpora -> token contexts -> activations at a hook, cached; the held-out split."""

__all__ = ["activations", "corpus", "heldout"]
