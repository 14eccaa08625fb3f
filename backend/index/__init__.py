"""The latent index: one pass over a corpus into mergeable state, finalised into the card store."""

__all__ = ["build", "cards", "finalise", "release", "state", "store"]
