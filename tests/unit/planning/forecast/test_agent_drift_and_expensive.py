"""Drift detectors on scaled errors, and the budgeted statsforecast candidates of the selection."""

from __future__ import annotations

import numpy as np
import pytest

from stockmesh.planning.forecast import (
    ForecastSettings,
    auto_models,
    backtest,
    forecast_series,
    panel_from_matrix,
)
from stockmesh.planning.forecast.drift import DriftSettings, detect_drift


@pytest.mark.parametrize("method", ["cusum", "page_hinkley"])
def test_unbiased_errors_rarely_alarm_and_a_one_sigma_shift_is_caught(method: str) -> None:
    rng = np.random.default_rng(0)
    errors = rng.normal(size=(1000, 90))
    settings = DriftSettings(method=method)
    assert detect_drift(errors, settings).drifted.mean() < 0.05
    shifted = errors.copy()
    shifted[:, 60:] -= 1.0
    report = detect_drift(shifted, settings)
    assert report.drifted.mean() > 0.9
    assert np.mean(report.direction[report.drifted] == -1) > 0.95  # a few false alarms came earlier


def test_missing_errors_are_skipped_and_bias_shows_in_the_tracking_signal() -> None:
    errors = np.full((2, 40), np.nan)
    errors[0, ::2] = 0.9  # every other day censored; demand steadily above the forecast
    errors[1, :3] = 5.0  # too few points for the tracking signal, but a big CUSUM step
    report = detect_drift(errors, DriftSettings(cusum_h=50.0))
    assert report.n_points.tolist() == [20, 3]
    assert report.tracking_signal[0] > 0.75 and report.detector[0] == "tracking_signal"
    assert not report.drifted[1]
    assert detect_drift(errors).detector[1] == "cusum"


@pytest.mark.slow
def test_expensive_candidates_run_on_a_bounded_share_of_the_worst_smooth_series() -> None:
    pytest.importorskip("statsforecast")
    rng = np.random.default_rng(1)
    n_series, n_days = 60, 150
    level = rng.uniform(20, 60, size=(n_series, 1))
    trend = np.where(np.arange(n_series)[:, None] < 6, 0.4, 0.0) * np.arange(n_days)[None, :]
    sales = rng.poisson(level + trend).astype(float)
    settings = ForecastSettings(horizon=7, expensive_models=("AutoETS",), expensive_share=0.1)
    result = forecast_series(sales, 7, settings=settings)
    expensive = result.provenance["expensive"]
    assert expensive["series_evaluated"] == 6 and expensive["models"] == ["AutoETS"]
    assert set(result.model) <= {*result.provenance["candidates"]["smooth"], "AutoETS"}
    assert np.all(np.isfinite(result.quantiles)) and np.all(result.point >= 0)

    report = backtest(panel_from_matrix(sales, freq="D"), 7, folds=2, settings=settings)
    assert "AutoETS" not in report.methods  # evaluated on 6 of 60 series: not a single method
    assert any("evaluated on 6 of 60" in note for note in report.notes)


def test_a_kept_expensive_model_is_evaluated_first() -> None:
    pytest.importorskip("statsforecast")
    sales = np.random.default_rng(2).poisson(30.0, size=(5, 80)).astype(float)
    settings = ForecastSettings(horizon=7, expensive_models=("AutoTheta",), expensive_share=0.0001)
    result = forecast_series(sales, 7, settings=settings, fixed_models=[None, None, "AutoTheta", None, None])
    assert result.model[2] == "AutoTheta" and result.provenance["expensive"]["series_evaluated"] == 1


def test_without_statsforecast_the_cheap_models_carry_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto_models, "statsforecast_available", lambda: False)
    sales = np.random.default_rng(3).poisson(30.0, size=(200, 80)).astype(float)
    settings = ForecastSettings(horizon=7, expensive_share=1.0)
    result = forecast_series(sales, 7, settings=settings, fixed_models=["AutoETS"] * 200)
    assert result.provenance["expensive"] is None
    assert not {"AutoETS", "AutoTheta"} & set(result.model)
