"""Is a latent a canonical unit? The lenses beyond stitching and atomicity: seeds, absorption, splits, facets."""
