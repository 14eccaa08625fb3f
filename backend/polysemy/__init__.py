"""Polysemy probes after PS-Eval: reading a word in contexts, probe sets, the benchmark."""

__all__ = ["bench", "probe", "probe_sets"]
