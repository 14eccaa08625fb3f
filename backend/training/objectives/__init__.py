"""Training objectives, one module each, found by the name a catalog's `training.objective` says.

Adding one: a module here with a frozen `Objective` dataclass, listed in `OBJECTIVES`.
"""

from dataclasses import fields
from typing import Any

from backend.training.objectives.base import Objective, Run
from backend.training.objectives.batchtopk import BatchTopK
from backend.training.objectives.gba import GBA
from backend.training.objectives.l1 import L1
from backend.training.objectives.matryoshka import Matryoshka

OBJECTIVES: dict[str, type[Objective]] = {cls.name: cls for cls in (L1, BatchTopK, GBA, Matryoshka)}


def objective_from(table: dict[str, Any]) -> tuple[Objective, dict[str, Any]]:
    """The objective a flat `training` table names (`objective`, then `<name>_<setting>` keys) and the rest of the
    table. ValueError naming the key when the objective or a setting of it is unknown, or a value is out of range."""
    name = table.get("objective")
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(map(repr, OBJECTIVES))}, got {name!r:.40}.")
    cls = OBJECTIVES[name]
    prefix = f"{name}_"
    own = {key.removeprefix(prefix): value for key, value in table.items() if key.startswith(prefix)}
    settings = tuple(item.name for item in fields(cls))
    for key in own:
        if key not in settings:
            known = ", ".join(prefix + setting for setting in settings)
            raise ValueError(f"{prefix}{key} is not a setting of {name}; it has {known}.")
    rest = {key: value for key, value in table.items() if key != "objective" and not key.startswith(prefix)}
    return cls(**own), rest


__all__ = ["GBA", "L1", "OBJECTIVES", "BatchTopK", "Matryoshka", "Objective", "Run", "objective_from"]
