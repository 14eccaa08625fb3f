"""argparse types for the command line: bounded numbers and slices, refused with one line that says why."""

import argparse
from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

N = TypeVar("N", int, float)
T = TypeVar("T")


def from_flags(settings: type[T], args: argparse.Namespace, **given: Any) -> T:
    """The dataclass `settings` from the parsed flags named like its fields (a flag and its field share one name),
    with `given` for the fields whose flag is named or shaped otherwise; the rest keep their defaults."""
    named = {item.name: getattr(args, item.name) for item in fields(settings) if hasattr(args, item.name)}  # type: ignore[arg-type]
    return settings(**{**named, **given})


def bounded(kind: type[N], low: N, high: N) -> Callable[[str], N]:
    """An argparse type: an int or float in [low, high] (nan and inf are refused) with a one-line message."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r:.40} is not a {'whole ' if kind is int else ''}number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value

    return parse


def whole(low: int, high: int) -> Callable[[str], int]:
    return bounded(int, low, high)


def finite(low: float, high: float) -> Callable[[str], float]:
    return bounded(float, low, high)


def positions(text: str) -> tuple[int, int | None]:
    """`A:B` (Python slice bounds, B may be empty or negative) as an argparse type."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(start or 0), int(stop) if stop else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r:.40} is not START:STOP, e.g. 6:-6") from None


def widths(text: str) -> tuple[int, ...]:
    """`A,B,C` whole numbers (a Matryoshka SAE's prefix widths) as an argparse type."""
    try:
        found = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r:.40} is not whole numbers separated by commas, e.g. 1152,2304"
        ) from None
    if not found or min(found) < 1 or len(found) > 64:
        raise argparse.ArgumentTypeError(f"{text!r:.40}: give 1 to 64 widths, each at least 1")
    return found
