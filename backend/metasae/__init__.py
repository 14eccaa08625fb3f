"""Meta-SAE decompositions of every latent, the related-latents graph, showcase picks."""

__all__ = ["atomicity", "decompose", "graph", "showcase"]
