"""SAE stitching: decoder matching, novel/reconstruction classification, curves per family."""

__all__ = ["curves", "family", "matching"]
