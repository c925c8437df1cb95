"""Forecast facts: what the demand forecast agent published, how it fared, and when it drifted.

Every event lives on the series' own stream ``forecast:SKU@SITE`` and is recorded as a fact (no
command decides it), so the stream tells the life of the series' forecasts in order: published
(version 1, 2, ...), its errors as the actuals came in, a drift, a re-selection. Dates are ISO
``YYYY-MM-DD`` business dates; quantile keys are the levels as text (``"0.5"``, ``"0.9"``...), so
that the JSON stays canonical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from stockmesh.domain.events import Event, register

FORECAST_STREAM_PREFIX = "forecast:"


def forecast_stream(sku: str, site: str) -> str:
    """The stream of one SKU x site's forecasts: ``forecast:SKU@SITE``."""
    return f"{FORECAST_STREAM_PREFIX}{sku}@{site}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ForecastPublished(Event):
    """A forecast of one SKU x site, from the day after ``as_of`` for ``horizon`` periods.

    ``point`` and each list in ``quantiles`` hold one value per period; ``lead_time_demand`` holds
    the mean and the quantiles of the total demand over the first ``lead_time`` periods.
    ``reselected`` says whether the model was chosen afresh (first forecast, drift, or the periodic
    re-selection: ``reason``) or kept from the previous version. ``accuracy`` carries the
    cross-validation score of the model and ``error_scale``, the RMS of its validation errors, which
    drift detection divides errors by. ``data_window`` says which history it learned from.
    """

    type: ClassVar[str] = "ForecastPublished"
    forecast_id: str
    version: int
    sku: str
    site: str
    as_of: str
    freq: str
    horizon: int
    start: str
    model: str
    demand_class: str
    reselected: bool
    reason: str
    parameters: dict[str, Any]
    accuracy: dict[str, Any]
    data_window: dict[str, Any]
    point: list[float]
    quantiles: dict[str, list[float]]
    lead_time: int
    lead_time_demand: dict[str, float]


@dataclass(frozen=True, kw_only=True, slots=True)
class ForecastErrorRecorded(Event):
    """Errors of a published forecast against the actuals of ``dates`` (``error = actual - p50``;
    ``scaled_errors`` divide by the forecast's ``error_scale``). Censored (stock-out) dates carry no
    error: their demand is unknown, and they are listed in ``censored_dates``."""

    type: ClassVar[str] = "ForecastErrorRecorded"
    forecast_id: str
    model: str
    through: str
    dates: list[str]
    actual: list[float]
    forecast: list[float]
    errors: list[float]
    scaled_errors: list[float]
    censored_dates: list[str]
    covered_p90: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ForecastDriftDetected(Event):
    """The errors since the model was chosen show bias or a shift: the series is re-selected.

    ``direction`` is ``"up"`` when demand runs above the forecast, ``"down"`` below; ``statistics``
    holds the tracking signal, the CUSUM and Page–Hinkley statistics and the number of errors."""

    type: ClassVar[str] = "ForecastDriftDetected"
    forecast_id: str
    model: str
    as_of: str
    detector: str
    direction: str
    statistics: dict[str, float]
    thresholds: dict[str, float]


register(ForecastPublished, ForecastErrorRecorded, ForecastDriftDetected)


def daily_demand(published: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """Mean demand per period and its spread, read from a ``ForecastPublished`` payload.

    The mean is that of the point forecast over the horizon; the spread is taken from the p50 to
    p90 gap of the quantiles (a normal reading: gap / 1.2816), None when the forecast has neither."""
    if not published:
        return None, None
    point = [float(v) for v in published.get("point") or () if isinstance(v, int | float)]
    if not point:
        return None, None
    mean = sum(point) / len(point)
    quantiles = published.get("quantiles") or {}
    p50 = quantiles.get("p50") or point
    p90 = quantiles.get("p90")
    if not p90 or len(p90) != len(p50):
        return mean, None
    gap = sum(float(hi) - float(mid) for hi, mid in zip(p90, p50, strict=True)) / len(p90)
    return mean, max(gap, 0.0) / 1.2816
