"""The canonical-units lenses, one module each, in the order the build computes them and the card and tables show them.

Adding one: a module here with a `Lens` subclass (backend/lenses/lens.py) and its artifacts, listed in `LENSES`.
"""

from backend.lenses.kinds import absorption, atomicity, facets, families, seeds, splits, stitching
from backend.lenses.lens import Lens

LENSES: list[Lens] = [m.LENS for m in (stitching, seeds, atomicity, splits, absorption, facets, families)]
