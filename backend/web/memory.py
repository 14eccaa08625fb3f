"""The server process's garbage collector, kept off the visitors' path.

Python's cyclic collector walks every tracked object on a full (generation 2) collection. With torch, transformers,
pandas and plotly imported, that is half a million objects that live as long as the server: one full collection
took 0.43 s and came every ~25 reruns of a latent card (benchmarks/bench_load_protocol.py), a stall for every
session at once, since the collector holds the GIL. `gc.freeze()` moves the objects alive now out of the
collector's sight; they are still freed by reference counting, only cycles among them are never collected."""

import gc
import sys

THRESHOLDS = (2_000, 40, 40)
"""Allocations before a young collection, and young collections before an older one (Python's default: 700, 10, 10):
a rerun allocates hundreds of thousands of short-lived objects (protobuf messages, figure dicts, frames). Fifty
sessions on two processes for 60 s spent, per process, 9.0 s collecting with the default, 6.0 s at (10,000, 20, 20)
and 4.9 s at these (measured by hand: a `gc.callbacks` timer in the server, under benchmarks/bench_load_protocol.py)."""
_frozen_with = 0
"""How many modules were imported when the heap was last frozen."""


def freeze_after_imports() -> None:
    """Collect, then freeze the heap and set the collector's thresholds, once after each run that imported modules
    (the router calls it at a run's end): imports make nearly all the long-lived objects, and only a few runs of a
    server's life import any."""
    global _frozen_with
    if len(sys.modules) == _frozen_with:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    _frozen_with = len(sys.modules)
