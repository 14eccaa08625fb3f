"""Dataclass fields checked against their annotations, for configs read from outside files (a catalog's
`training` table): `lr = "fast"` is refused when the config is made, not a TypeError deep in a build."""

import types
import typing
from dataclasses import fields
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
    for field in fields(config):
        value = getattr(config, field.name)
        if not _fits(value, hints[field.name]):
            raise ValueError(f"{field.name} must be {_describe(hints[field.name])}, got {value!r:.40}.")
