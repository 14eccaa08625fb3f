"""The pages' one door to the backend. Reads, cached and split by domain: saes.py (SAEs, meta-SAEs, the model),
indexes.py (cards, tables, labels), stitching.py (matchings, curves, lineage, maps), lenses.py (canonical-units
lenses), polysemy.py (probes); each records the stamps of what it read (keyed.py, stamps.py). Computing: actions.py.
The view a URL names: state.py."""
