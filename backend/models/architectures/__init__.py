"""SAE architectures, one module each, found by the name SAELens writes in `cfg.json`.

Adding one: a module here with an `Architecture` subclass and its instance, listed in `_MODULES`.
"""

from backend.core.errors import SAEFormatError
from backend.models.architectures import batchtopk, jumprelu, matryoshka_batchtopk, standard, topk
from backend.models.architectures.base import COMMON_TENSORS, Architecture

_MODULES = (standard, jumprelu, topk, batchtopk, matryoshka_batchtopk)
ARCHITECTURES: dict[str, Architecture] = {m.ARCHITECTURE.name: m.ARCHITECTURE for m in _MODULES}


def architecture(name: object) -> Architecture:
    """The architecture called `name` (SAEFormatError naming the supported ones when there is none)."""
    found = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if found is None:
        raise SAEFormatError(f"Unknown SAE architecture {name!r:.40}; supported: {', '.join(ARCHITECTURES)}.")
    return found


__all__ = ["ARCHITECTURES", "COMMON_TENSORS", "Architecture", "architecture"]
