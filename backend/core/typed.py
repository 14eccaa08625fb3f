"""Dataclass fields checked against their annotations and stated ranges, for configs read from outside files (a
catalog's `training` table): `lr = "fast"` or `lr = inf` is refused when the config is made, not a TypeError or an SAE
of NaNs deep in a build."""

import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Union


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    return {type(None): "absent", bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def check_field_types(config: Any) -> None:
    """A ValueError naming the first field of dataclass `config` whose value does not fit its annotation."""
    hints = typing.get_type_hints(type(config))
    for item in fields(config):
        value = getattr(config, item.name)
        if not _fits(value, hints[item.name]):
            raise ValueError(f"{item.name} must be {_describe(hints[item.name])}, got {value!r:.40}.")


@dataclass(frozen=True)
class Range:
    """Where a numeric setting may lie: `low` and `high` included unless `*_open`; None: unbounded on that side
    (a float must still be finite)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"


def ranged(default: Any, low: float | None = None, high: float | None = None, **open_ends: bool) -> Any:
    """A dataclass field with a default and a `Range` that `check_field_ranges` enforces."""
    return field(default=default, metadata={"range": Range(low, high, **open_ends)})


def check_field_ranges(config: Any, prefix: str = "") -> None:
    """A ValueError naming the first numeric field of dataclass `config` outside its `ranged` range (None passes)."""
    for item in fields(config):
        bounds = item.metadata.get("range")
        value = getattr(config, item.name)
        if bounds is not None and value is not None and not bounds.holds(value):
            raise ValueError(f"{prefix}{item.name} must be in {bounds}, got {value!r:.40}.")
