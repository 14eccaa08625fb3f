"""What the pages show beyond cards: latent maps, search, SAE summaries, the paper's figures."""

__all__ = ["latent_map", "overview", "paper", "search"]
