"""forecast_series on synthetic demand: censoring, quantiles, promotions, lead-time demand."""

from __future__ import annotations

import numpy as np
import pytest

from stockmesh.planning.forecast import forecast_series
from stockmesh.planning.forecast.models import ModelInput, run_cheap_models
from stockmesh.planning.forecast.synthetic import daily_retail_demand


def test_stock_out_zeros_are_not_learned_as_demand() -> None:
    rng = np.random.default_rng(11)
    demand = rng.poisson(10.0, size=(50, 120)).astype(float)
    stock_out = np.zeros_like(demand, dtype=bool)
    stock_out[:, 80:90] = True  # empty shelves earlier, and for the last ten days
    stock_out[:, 110:120] = True
    sales = np.where(stock_out, 0.0, demand)
    naive_view = forecast_series(sales, 14)
    censored_view = forecast_series(sales, 14, censored=stock_out)
    assert censored_view.point.mean() > naive_view.point.mean() + 1.0
    assert abs(censored_view.point.mean() - 10.0) < 1.0
    assert censored_view.provenance["censored_periods"] == int(stock_out.sum())


def _coverage(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(actual <= forecast))


@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_quantiles_are_monotone_non_negative_and_calibrated(family: str) -> None:
    rng = np.random.default_rng(5)
    n_series, n_days, horizon = 400, 224, 28
    mean = rng.uniform(0.3, 30.0, size=(n_series, 1))
    if family == "poisson":
        draws = rng.poisson(mean, size=(n_series, n_days))
    else:
        size = rng.uniform(1.0, 5.0, size=(n_series, 1))
        draws = rng.negative_binomial(size, size / (size + mean), size=(n_series, n_days))
    history, future = draws[:, :-horizon].astype(float), draws[:, -horizon:]
    result = forecast_series(history, horizon, lead_time=7)
    assert np.all(result.quantiles >= 0)
    assert np.all(np.diff(result.quantiles, axis=1) >= 0)
    assert np.all(np.diff(result.lead_time_demand_quantiles, axis=1) >= 0)
    assert 0.85 <= _coverage(future, result.quantile(0.9)) <= 0.95
    assert _coverage(future, result.quantile(0.99)) >= 0.96
    lead_time_demand = future[:, :7].sum(axis=1)
    assert 0.80 <= _coverage(lead_time_demand, result.lead_time_demand(0.9)) <= 0.98
    assert result.lead_time_demand_p95.shape == (n_series,)


def test_promotions_calendar_raises_the_forecast_on_flagged_days() -> None:
    demand = daily_retail_demand(200, 280, seed=3, promotion_share=0.08)
    horizon = 14
    future_promotions = np.zeros((200, horizon), dtype=bool)
    future_promotions[:, 3:6] = True
    with_calendar = forecast_series(
        demand.sales, horizon, promotions=demand.promotions, future_promotions=future_promotions
    )
    without = forecast_series(demand.sales, horizon)
    flagged, plain = with_calendar.point[:, 3:6], with_calendar.point[:, 7:10]
    assert flagged.sum() > 1.4 * plain.sum()
    assert np.median(with_calendar.uplift / demand.uplift) == pytest.approx(1.0, abs=0.2)
    # Learning the uplift also removes the promotion spikes from the baseline.
    assert with_calendar.point[:, 7:10].sum() < without.point[:, 7:10].sum()


def test_every_series_gets_a_model_class_and_provenance() -> None:
    demand = daily_retail_demand(30, 120, seed=2)
    history = demand.sales.copy()
    history[0, :115] = np.nan  # a brand-new SKU with five days of history
    history[1, :119] = np.nan  # and one with a single day
    result = forecast_series(history, 7)
    assert result.model.shape == (30,) and set(result.demand_class) <= {
        "smooth",
        "erratic",
        "intermittent",
        "lumpy",
    }
    assert result.model[1] == "Naive"
    assert np.all(np.isfinite(result.point)) and np.all(result.point >= 0)
    assert result.provenance["selection_windows"] == 3


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("Naive", "Naive()"),
        ("SeasonalNaive", "SeasonalNaive(7)"),
        ("WindowAverage(28)", "WindowAverage(28)"),
        ("SeasonalWindowAverage", "SeasonalWindowAverage(7, 4)"),
        ("CrostonClassic", "CrostonClassic()"),
        ("CrostonSBA", "CrostonSBA()"),
    ],
)
def test_cheap_models_match_statsforecast(ours: str, theirs: str) -> None:
    models = pytest.importorskip("statsforecast.models")
    sales = daily_retail_demand(12, 120, seed=3).sales
    reference_model = eval(theirs, vars(models))  # noqa: S307 - a constructor from the list above
    reference = np.array([reference_model.forecast(y=row, h=7)["mean"] for row in sales])
    mine = run_cheap_models(ModelInput(sales, np.array([120]), 7, 7))[ours][:, 0, :]
    np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_chunked_runs_handle_series_of_every_length(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockmesh.planning.forecast import engine
    from stockmesh.planning.forecast.panel import panel_from_matrix

    monkeypatch.setattr(engine, "CHUNK_BYTES", 1)  # 500-row chunks
    sales = daily_retail_demand(1200, 150, seed=9).sales
    sales[500:1000, :140] = np.nan  # a whole chunk of ten-day-old SKUs
    result = forecast_series(sales, 14)
    assert result.point.shape == (1200, 14) and np.all(np.isfinite(result.quantiles))
    report = engine.backtest(panel_from_matrix(sales, freq="D"), 14, folds=2)
    assert report.skipped_short == 500 and report.series == 700
    assert report.selected.rmsse < report.methods["SeasonalNaive"].rmsse
