"""The forecasting acceptance figures on the real monthly demand in ../shared/data (horizon 6, 3 folds).

The full back-test of both files takes about a second, so CI runs all of it, not a subset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stockmesh.planning.forecast import ForecastSettings, backtest, read_demand_csv

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("name", ["carparts.csv", "hospital.csv"])
@pytest.mark.slow
def test_automatic_selection_meets_the_acceptance_figures(shared_data: Path, name: str) -> None:
    demand = read_demand_csv(shared_data / "demand" / name)
    report = backtest(demand.panel, 6, folds=3, settings=ForecastSettings(horizon=6))
    selected = report.selected.rmsse
    best = report.methods[report.best_method()].rmsse
    assert selected <= 0.90 * report.methods["SeasonalNaive"].rmsse
    assert selected <= 1.02 * best
    assert 0.85 <= report.selected.coverage_p90 <= 0.95
