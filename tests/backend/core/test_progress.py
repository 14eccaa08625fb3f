"""Terminal progress: a resumed job's bar starts at what was already done, and closes when complete."""

from backend.core.progress import TqdmReporter


def test_a_resumed_bar_opens_at_its_count_and_closes_when_done() -> None:
    report = TqdmReporter(unit="shard")
    report("index", 12, 32)
    bar = report.bars["index"]
    assert (bar.initial, bar.n, bar.total) == (12, 12, 32)
    report("index", 32, 32)
    assert bar.n == 32
