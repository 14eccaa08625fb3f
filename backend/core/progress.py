"""How long jobs report progress: one reporter type, the terminal adapter (tqdm) and fan-out.

A job with several steps takes a `Reporter` (step name, done, total); a single loop takes a
`Progress` (done, total). The Streamlit adapter lives with the pages (pages/sections/widgets.py).
"""

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

Reporter = Callable[[str, int, int], None]
"""(step description, done, total)."""
Progress = Callable[[int, int], None]
"""(done, total) of one loop."""


class TqdmReporter:
    """A `Reporter` that draws one tqdm bar per step on the terminal."""

    def __init__(self, unit: str = "step") -> None:
        self.unit = unit
        self.bars: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        bar = self.bars.get(step)
        if bar is None:
            bar = self.bars[step] = tqdm(total=total, initial=done, desc=step, unit=self.unit, leave=True)
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def tee(*reporters: Reporter) -> Reporter:
    """One reporter that tells every one of `reporters`."""

    def report(step: str, done: int, total: int) -> None:
        for reporter in reporters:
            reporter(step, done, total)

    return report


def step_progress(report: Reporter, step: str) -> Progress:
    """The `Progress` of one named step of a `Reporter`."""
    return lambda done, total: report(step, done, total)


def silent(_step: str, _done: int, _total: int) -> None:
    """A `Reporter` that reports nowhere."""
