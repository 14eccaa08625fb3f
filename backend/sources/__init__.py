"""Where releases come from: the catalog, the Hugging Face Hub (or a local folder), Neuronpedia."""

__all__ = ["catalog", "hub", "neuronpedia"]
