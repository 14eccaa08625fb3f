from dataclasses import dataclass
from typing import Literal

import pytest

from backend.core.typed import check_field_types


@dataclass
class Config:
    size: int
    rate: float = 0.1
    kind: Literal["a", "b"] = "a"
    limit: int | None = None
    flag: bool = False


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"size": True}, "size must be a whole number"), ({"rate": "fast"}, "rate must be a number"),
     ({"kind": "c"}, "kind must be one of 'a', 'b'"), ({"limit": 1.5}, "limit must be a whole number or absent"),
     ({"flag": 1}, "flag must be true or false")],
)  # fmt: skip
def test_a_field_that_does_not_fit_its_annotation_is_named(changes: dict[str, object], message: str) -> None:
    config = Config(size=3)
    for name, value in changes.items():
        setattr(config, name, value)
    with pytest.raises(ValueError, match=message):
        check_field_types(config)


def test_fitting_values_pass_and_whole_numbers_are_numbers() -> None:
    check_field_types(Config(size=3, rate=1, kind="b", limit=None, flag=True))
