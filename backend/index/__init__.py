"""The latent index: one pass over a corpus into mergeable state, finalised into the card store."""

__all__ = ["artifact", "build", "cards", "finalize", "plan", "release", "state", "store"]
