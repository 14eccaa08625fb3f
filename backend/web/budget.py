"""What one visitor's action may cost this server, said beside its control and checked before it runs.

A deployment's visitors share its CPU: an uploaded probe set of 5,000 pairs took about 67 minutes of model time on 2
cores, and the largest meta-SAE the form allowed about 51. Each costly action has a cost model here, its seconds
estimated from rates measured on the reference machine (2 AMD EPYC Zen 4 cores, CPU only;
`benchmarks/bench_visitor_costs.py` measures them on a built release beside the constants below), and an action
estimated above `VISITOR_SECONDS` is refused with its estimate and the command that runs it without a bound on the
operator's machine. The operator sets the bound with `ATLAS_VISITOR_SECONDS` (0: none, for an app run on one's own
machine); the command line is the operator's and is not bounded.
"""

import math
import os
from dataclasses import dataclass

import pandas as pd

from backend.core.errors import AtlasError

VISITOR_SECONDS_ENV = "ATLAS_VISITOR_SECONDS"
DEFAULT_VISITOR_SECONDS = 240.0
"""The most one visitor's action may cost by default: four minutes of this server's CPU."""
PROBE_KCHAR_SECONDS = 0.35
"""Seconds per 1,000 characters of probe contexts, read by the model and every SAE of the family: measured 0.20-0.32
(short WordNet glosses cost the most per character; the bound takes a little above the highest)."""
META_SECONDS_PER_UNIT = 6e-11
"""Seconds per unit of meta-SAE training work, epochs x decoder rows x meta-latents x d_in: measured 4.0-5.5e-11."""


def visitor_seconds() -> float:
    """The operator's bound (`ATLAS_VISITOR_SECONDS`; 0 or unset-to-0: no bound, infinity), else the default."""
    raw = os.environ.get(VISITOR_SECONDS_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_VISITOR_SECONDS
    except ValueError:
        return DEFAULT_VISITOR_SECONDS
    return math.inf if value <= 0 else value


@dataclass(frozen=True)
class Cost:
    """An action's estimated seconds on the reference machine."""

    what: str
    seconds: float

    @property
    def allowed(self) -> bool:
        return self.seconds <= visitor_seconds()

    def sentence(self) -> str:
        bound = visitor_seconds()
        limit = "" if math.isinf(bound) else f"; an action here may take {_duration(bound)}"
        return f"{self.what}: about {_duration(self.seconds)} on 2 CPU cores{limit}."

    def check(self, instead: str) -> None:
        """AtlasError with the estimate and where it runs unbounded, when it is over the bound."""
        if not self.allowed:
            raise AtlasError(f"{self.sentence()} Make it smaller, or {instead}.")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def probe_cost(pairs: int, characters: int) -> Cost:
    """Probing `pairs` pairs whose contexts hold `characters` characters in all."""
    return Cost(
        f"{pairs:,} probe pairs ({characters:,} characters of contexts)", characters / 1000 * PROBE_KCHAR_SECONDS
    )


def probe_set_cost(probe: pd.DataFrame) -> Cost:
    """Probing a probe set (columns context1 and context2)."""
    return probe_cost(len(probe), int(probe["context1"].str.len().sum() + probe["context2"].str.len().sum()))


def probe_limit() -> str:
    """How many pairs one run may probe here, said beside the upload."""
    bound = visitor_seconds()
    if math.isinf(bound):
        return "No bound on a run's pairs is set here."
    characters = math.floor(bound / PROBE_KCHAR_SECONDS * 1000)
    return (
        f"One run from the app reads at most {characters:,} characters of contexts (about {_duration(bound)} on 2 CPU "
        f"cores: {characters // 2000:,} pairs of 1,000-character contexts, more of shorter ones); where you run the app "
        f"yourself, {VISITOR_SECONDS_ENV}=0 lifts the bound."
    )


def meta_cost(epochs: float, rows: int, d_meta: int, d_in: int) -> Cost:
    return Cost(
        f"a meta-SAE of {d_meta:,} meta-latents, {epochs:g} epochs",
        epochs * rows * d_meta * d_in * META_SECONDS_PER_UNIT,
    )
