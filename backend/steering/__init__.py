"""Steering: generate text with a latent's (or a meta-latent's) direction pushed into the residual stream."""

__all__ = ["directions", "generate"]
