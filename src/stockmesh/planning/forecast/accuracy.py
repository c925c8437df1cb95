"""Accuracy metrics of the back-test, per series then averaged over series.

For series ``i`` with actuals ``y`` and forecasts ``f`` over its evaluated points (non-censored):

- ``rmsse_i = sqrt(mean((y - f)^2) / mean((y_t - y_{t-1})^2))``: the denominator is the in-sample
  mean squared one-step naive change over the history before the first evaluated window;
- ``mase_i = mean(|y - f|) / mean(|y_t - y_{t-1}|)`` over the same history;
- ``pinball_i = mean over points and levels p in (0.5, 0.9, 0.95, 0.99) of rho_p(y - q_p)``,
  divided by the MASE denominator (a scaled pinball loss, as in the M5 competition);
- the reported ``rmsse``, ``mase`` and ``pinball`` are the means of these over series.

A series whose history has no change at all (all zeros, or constant) has a zero denominator: it is
left out of the three scaled means and counted in ``unscaled_series``. ``bias`` is
``(sum f - sum y) / sum y`` over every evaluated point of every series (positive = over-forecast);
``coverage_p90`` is the share of every evaluated point whose actual is at or below the p90 forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scales:
    """Per-series denominators: mean squared and mean absolute one-step naive change."""

    squared: np.ndarray
    absolute: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        return (self.squared > 0) & np.isfinite(self.squared)


def naive_scales(values: np.ndarray, censored: np.ndarray | None = None, until: int | None = None) -> Scales:
    """Scales from the one-step changes between non-censored observed cells before ``until``."""
    history = values[:, : values.shape[1] if until is None else until]
    if censored is not None:
        history = np.where(censored[:, : history.shape[1]], np.nan, history)
    change = np.diff(history, axis=1)
    valid = ~np.isnan(change)
    count = np.maximum(valid.sum(axis=1), 1)
    squared = np.where(valid, change * change, 0.0).sum(axis=1) / count
    absolute = np.where(valid, np.abs(change), 0.0).sum(axis=1) / count
    squared = np.where(valid.any(axis=1), squared, 0.0)
    return Scales(squared=squared, absolute=np.where(valid.any(axis=1), absolute, 0.0))


def pinball_loss(actual: np.ndarray, quantile_forecast: np.ndarray, level: float) -> np.ndarray:
    """Elementwise pinball (quantile) loss ``rho_p(y - q)``."""
    difference = actual - quantile_forecast
    return np.maximum(level * difference, (level - 1) * difference)


@dataclass(frozen=True)
class SeriesErrors:
    """Per-series error sums of one method, so that chunks of series can be scored separately."""

    mse: np.ndarray
    mae: np.ndarray
    pinball: np.ndarray
    points: np.ndarray
    covered_p90: np.ndarray
    forecast_sum: np.ndarray
    actual_sum: np.ndarray

    @staticmethod
    def concatenate(parts: list[SeriesErrors]) -> SeriesErrors:
        return SeriesErrors(
            **{
                name: np.concatenate([getattr(part, name) for part in parts])
                for name in SeriesErrors.__dataclass_fields__
            }
        )


def series_errors(actual: np.ndarray, point: np.ndarray, quantiles: dict[float, np.ndarray]) -> SeriesErrors:
    """Errors of ``(n_series, n_points)`` forecasts against actuals (NaN actual = not evaluated)."""
    evaluated = ~np.isnan(actual)
    y = np.where(evaluated, actual, 0.0)
    f = np.where(evaluated, point, 0.0)
    points = evaluated.sum(axis=1)
    count = np.maximum(points, 1)
    pinball = np.zeros(actual.shape[0])
    for level, forecast in quantiles.items():
        pinball += np.where(evaluated, pinball_loss(y, forecast, level), 0.0).sum(axis=1) / count
    p90 = quantiles.get(0.9, np.full(actual.shape, np.inf))
    return SeriesErrors(
        mse=((y - f) ** 2).sum(axis=1) / count,
        mae=np.abs(y - f).sum(axis=1) / count,
        pinball=pinball / max(len(quantiles), 1),
        points=points,
        covered_p90=((y <= p90 + 1e-9) & evaluated).sum(axis=1),
        forecast_sum=f.sum(axis=1),
        actual_sum=y.sum(axis=1),
    )


@dataclass(frozen=True)
class Accuracy:
    """The figures of one method over one back-test."""

    rmsse: float
    mase: float
    bias: float
    pinball: float
    coverage_p90: float
    series: int
    unscaled_series: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rmsse": self.rmsse,
            "mase": self.mase,
            "bias": self.bias,
            "pinball": self.pinball,
            "coverage_p90": self.coverage_p90,
            "series": self.series,
            "unscaled_series": self.unscaled_series,
        }


def summarize(errors: SeriesErrors, scales: Scales) -> Accuracy:
    """Average per-series errors into the figures defined in the module docstring."""
    has_points = errors.points > 0
    scaled = has_points & scales.usable
    squared = scales.squared[scaled]
    absolute = np.where(scales.absolute[scaled] > 0, scales.absolute[scaled], 1.0)
    total_actual = float(errors.actual_sum.sum())
    total_points = int(errors.points.sum())
    return Accuracy(
        rmsse=float(np.mean(np.sqrt(errors.mse[scaled] / squared))) if scaled.any() else float("nan"),
        mase=float(np.mean(errors.mae[scaled] / absolute)) if scaled.any() else float("nan"),
        bias=(float(errors.forecast_sum.sum()) - total_actual) / total_actual
        if total_actual > 0
        else float("nan"),
        pinball=float(np.mean(errors.pinball[scaled] / absolute)) if scaled.any() else float("nan"),
        coverage_p90=float(errors.covered_p90.sum()) / total_points if total_points else float("nan"),
        series=int(has_points.sum()),
        unscaled_series=int((has_points & ~scales.usable).sum()),
    )
