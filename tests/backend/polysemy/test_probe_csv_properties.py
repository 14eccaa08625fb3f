"""Property tests: any uploaded bytes give a checked probe set or a ProbeSetError (EXAMPLES per target)."""

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.polysemy.probe_sets import MAX_PAIRS, MAX_UPLOAD_BYTES, ProbeSetError, parse_probe_csv

EXAMPLES = 300
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cells = st.text(max_size=30) | st.sampled_from(["1", "0", "same", "different", "bank", "", "nan", "\x00"])


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def parses_or_refuses(data: bytes) -> None:
    try:
        frame = parse_probe_csv(data)
    except ProbeSetError:
        return
    assert list(frame.columns) == ["word", "context1", "context2", "same"] and len(frame) > 0
    assert frame["same"].map(type).eq(bool).all()


@SETTINGS
@given(data=st.binary(max_size=600))
def test_any_bytes_parse_or_are_refused(data: bytes) -> None:
    parses_or_refuses(data)


@SETTINGS
@given(header=st.lists(st.sampled_from(["word", "context1", "context2", "label", "x", ""]), max_size=5),
       rows=st.lists(st.lists(cells, max_size=5), max_size=6))  # fmt: skip
def test_any_table_parses_or_is_refused(header: list[str], rows: list[list[str]]) -> None:
    try:
        data = as_csv([header, *rows])
    except UnicodeEncodeError:
        return
    parses_or_refuses(data)


def test_oversized_uploads_are_refused_before_parsing() -> None:
    with pytest.raises(ProbeSetError, match="limited"):
        parse_probe_csv(b"x" * (MAX_UPLOAD_BYTES + 1))
    rows = [["word", "context1", "context2", "label"]] + [["bank", "a b", "c d", "1"]] * (MAX_PAIRS + 1)
    with pytest.raises(ProbeSetError, match="limited"):
        parse_probe_csv(as_csv(rows))
