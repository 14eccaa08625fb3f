"""A visitor's costly actions are estimated, said and bounded (backend/web/budget.py)."""

import math

import pandas as pd
import pytest

from backend.core.errors import AtlasError
from backend.web import budget


def test_an_action_over_the_bound_is_refused_with_its_estimate_and_where_it_runs_unbounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(budget.VISITOR_SECONDS_ENV, raising=False)
    within = int(budget.DEFAULT_VISITOR_SECONDS / budget.PROBE_KCHAR_SECONDS * 1000)
    budget.probe_cost(400, within).check("elsewhere")
    pairs = pd.DataFrame({"context1": ["x" * 1000] * 5000, "context2": ["y" * 1000] * 5000})
    with pytest.raises(AtlasError, match=r"5,000 probe pairs \(10,000,000 characters of contexts\): about \d+ minutes on "
                       r"2 CPU cores; an action here may take 4 minutes\. Make it smaller, or elsewhere\."):  # fmt: skip
        budget.probe_set_cost(pairs).check("elsewhere")
    assert f"at most {within:,} characters" in budget.probe_limit()


def test_the_operator_sets_the_bound_and_zero_lifts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(budget.VISITOR_SECONDS_ENV, "0")
    assert math.isinf(budget.visitor_seconds()) and budget.probe_cost(10**6, 10**9).allowed
    assert "No bound" in budget.probe_limit()
    monkeypatch.setenv(budget.VISITOR_SECONDS_ENV, "30")
    assert not budget.probe_cost(1000, 200_000).allowed
    monkeypatch.setenv(budget.VISITOR_SECONDS_ENV, "lots")
    assert budget.visitor_seconds() == budget.DEFAULT_VISITOR_SECONDS


def test_a_meta_sae_costs_in_proportion_to_its_work() -> None:
    small = budget.meta_cost(10, 9216, 440, 576).seconds
    assert budget.meta_cost(20, 9216, 880, 576).seconds == pytest.approx(4 * small)
