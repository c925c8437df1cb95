"""DemandForecastAgent: daily demand history in, versioned forecasts (as facts to record) out. No I/O.

One call of :meth:`DemandForecastAgent.decide` is one forecasting cycle over every SKU x site:

1. **Errors.** Each series' last published forecast is compared with the actuals that arrived
   since (days after its ``as_of`` and after the last recorded error, within its horizon):
   ``error = actual - p50``, scaled by the forecast's ``error_scale``. Censored days (a stock-out:
   demand unknown) carry no error.
2. **Drift.** The scaled errors recorded since the model was last chosen go through
   :func:`~stockmesh.planning.forecast.drift.detect_drift` (tracking signal, CUSUM or
   Page–Hinkley), all series at once.
3. **Selection.** A series gets its model chosen afresh (rolling-origin cross-validation) when it
   has no forecast yet, when it drifted, or when its model was chosen ``reselect_every`` periods
   ago or more; otherwise it keeps its model and only re-forecasts with it. Stock-out days are
   censored: imputed from the past for fitting and left out of every score, never read as zero.
4. **Publication.** Every series gets a new version: model, parameters, accuracy, data window,
   p50/p90/p95/p99 per period and the lead-time demand distribution.

The result is a list of ``(stream_id, event)`` facts; the service appends them to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from stockmesh.domain.events import Event
from stockmesh.domain.forecasts import (
    ForecastDriftDetected,
    ForecastErrorRecorded,
    ForecastPublished,
    forecast_stream,
)
from stockmesh.planning.forecast import ForecastSettings, forecast_series
from stockmesh.planning.forecast.drift import DriftSettings, detect_drift

AGENT = "agent:forecast"
DIGITS = 4


@dataclass(frozen=True)
class DemandHistory:
    """Daily demand of many SKU x site series, aligned on the same last day.

    ``sales`` is ``(n_series, n_days)``, column 0 being ``first_day``; NaN before a series starts.
    ``censored`` marks days with no available stock (their sales are a floor, not the demand).
    ``promotions`` marks past promotion days, ``future_promotions`` ``(n_series, horizon)`` the
    planned ones (both optional).
    """

    sku: Sequence[str]
    site: Sequence[str]
    first_day: date
    sales: np.ndarray
    censored: np.ndarray
    promotions: np.ndarray | None = None
    future_promotions: np.ndarray | None = None

    @property
    def as_of(self) -> date:
        """The last day of history."""
        return self.first_day + timedelta(days=int(self.sales.shape[1]) - 1)

    @property
    def n_series(self) -> int:
        return int(self.sales.shape[0])


@dataclass(frozen=True)
class LastForecast:
    """What the forecast read model knows of a series' latest published forecast.

    ``selected_as_of`` is the ``as_of`` of the version whose model was last chosen afresh;
    ``scaled_errors`` the scaled errors recorded since then, oldest first (NaN for censored days);
    ``errors_through`` the last day whose actual has been compared already.
    """

    forecast_id: str
    version: int
    model: str
    as_of: date
    start: date
    point: Sequence[float]
    p90: Sequence[float]
    error_scale: float
    selected_as_of: date
    scaled_errors: Sequence[float] = ()
    errors_through: date | None = None


@dataclass(frozen=True)
class ForecastCycle:
    """What one cycle decided: the facts to record, in order, and a summary."""

    facts: list[tuple[str, Event]]
    published: int
    reselected: dict[str, int]
    errors_recorded: int
    drifted: list[tuple[str, str]]
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemandForecastAgent:
    """Forecasts every SKU x site of a :class:`DemandHistory` (see the module docstring)."""

    horizon: int = 28
    lead_time: int = 7
    reselect_every: int = 28
    settings: ForecastSettings | None = None
    drift: DriftSettings = field(default_factory=DriftSettings)

    def decide(
        self, history: DemandHistory, previous: Mapping[tuple[str, str], LastForecast] | None = None
    ) -> ForecastCycle:
        """Record errors, detect drift, forecast and publish; returns the facts to append."""
        known = previous or {}
        as_of = history.as_of
        keys = list(zip(history.sku, history.site, strict=True))
        lasts = [known.get(key) for key in keys]
        facts: list[tuple[str, Event]] = []

        error_events, sequences = self._errors(history, lasts)
        drift_events, drifted = self._drift(keys, lasts, sequences, as_of)
        reasons = [
            self._reason(last, key in drifted, as_of) for key, last in zip(keys, lasts, strict=True)
        ]
        fixed = [last.model if last is not None and reason == "kept" else None
                 for last, reason in zip(lasts, reasons, strict=True)]
        settings = self.settings or ForecastSettings(horizon=self.horizon)
        result = forecast_series(
            history.sales,
            self.horizon,
            censored=history.censored,
            promotions=history.promotions,
            future_promotions=history.future_promotions,
            lead_time=self.lead_time,
            freq="D",
            settings=settings,
            fixed_models=fixed,
        )
        for index, key in enumerate(keys):
            stream = forecast_stream(*key)
            if index in error_events:
                facts.append((stream, error_events[index]))
            if key in drift_events:
                facts.append((stream, drift_events[key]))
        published = self._publish(history, lasts, reasons, fixed, result)
        facts.extend(published)
        counts: dict[str, int] = {}
        for _, event in published:
            assert isinstance(event, ForecastPublished)
            counts[event.reason] = counts.get(event.reason, 0) + 1
        return ForecastCycle(
            facts=facts,
            published=len(published),
            reselected={reason: count for reason, count in counts.items() if reason != "kept"},
            errors_recorded=len(error_events),
            drifted=sorted(drifted),
            provenance=_plain(result.provenance),
        )

    # ----------------------------------------------------------------------------------------------

    def _errors(
        self, history: DemandHistory, lasts: list[LastForecast | None]
    ) -> tuple[dict[int, ForecastErrorRecorded], list[list[float]]]:
        """Errors of each series' last forecast on the days that arrived since; and per series the
        scaled errors since its model was chosen (the drift detectors' input)."""
        events: dict[int, ForecastErrorRecorded] = {}
        sequences: list[list[float]] = []
        as_of = history.as_of
        for index, last in enumerate(lasts):
            if last is None:
                sequences.append([])
                continue
            sequence = list(last.scaled_errors)
            begin = max(last.as_of, last.errors_through or last.as_of) + timedelta(days=1)
            end = min(as_of, last.start + timedelta(days=len(last.point) - 1))
            days = [begin + timedelta(days=offset) for offset in range((end - begin).days + 1)]
            record: dict[str, list[Any]] = {key: [] for key in ("dates", "actual", "forecast", "errors", "scaled")}
            censored_days: list[str] = []
            covered = 0
            for day in days:
                column = (day - history.first_day).days
                actual = history.sales[index, column] if 0 <= column < history.sales.shape[1] else np.nan
                if np.isnan(actual):
                    continue
                if history.censored[index, column]:
                    censored_days.append(day.isoformat())
                    sequence.append(float("nan"))
                    continue
                step = (day - last.start).days
                error = float(actual) - float(last.point[step])
                scaled = error / last.error_scale
                covered += int(actual <= last.p90[step] + 1e-9)
                for name, value in zip(
                    ("dates", "actual", "forecast", "errors", "scaled"),
                    (day.isoformat(), float(actual), float(last.point[step]), error, scaled),
                    strict=True,
                ):
                    record[name].append(_round(value) if isinstance(value, float) else value)
                sequence.append(scaled)
            sequences.append(sequence)
            if record["dates"] or censored_days:
                events[index] = ForecastErrorRecorded(
                    forecast_id=last.forecast_id,
                    model=last.model,
                    through=days[-1].isoformat(),
                    dates=record["dates"],
                    actual=record["actual"],
                    forecast=record["forecast"],
                    errors=record["errors"],
                    scaled_errors=record["scaled"],
                    censored_dates=censored_days,
                    covered_p90=covered,
                )
        return events, sequences

    def _drift(
        self,
        keys: list[tuple[str, str]],
        lasts: list[LastForecast | None],
        sequences: list[list[float]],
        as_of: date,
    ) -> tuple[dict[tuple[str, str], ForecastDriftDetected], set[tuple[str, str]]]:
        rows = [index for index, sequence in enumerate(sequences) if sequence]
        if not rows:
            return {}, set()
        width = max(len(sequences[index]) for index in rows)
        matrix = np.full((len(rows), width), np.nan)
        for position, index in enumerate(rows):
            sequence = sequences[index]
            matrix[position, width - len(sequence) :] = sequence
        report = detect_drift(matrix, self.drift)
        events: dict[tuple[str, str], ForecastDriftDetected] = {}
        for position in np.flatnonzero(report.drifted).tolist():
            index = rows[position]
            last = lasts[index]
            assert last is not None
            events[keys[index]] = ForecastDriftDetected(
                forecast_id=last.forecast_id,
                model=last.model,
                as_of=as_of.isoformat(),
                detector=str(report.detector[position]),
                direction="up" if report.direction[position] > 0 else "down",
                statistics={
                    "tracking_signal": _round(report.tracking_signal[position]),
                    "cusum_up": _round(report.cusum_up[position]),
                    "cusum_down": _round(report.cusum_down[position]),
                    "page_hinkley_up": _round(report.page_hinkley_up[position]),
                    "page_hinkley_down": _round(report.page_hinkley_down[position]),
                    "mean_scaled_error": _round(report.mean_error[position]),
                    "errors": int(report.n_points[position]),
                },
                thresholds={
                    "cusum_k": self.drift.cusum_k,
                    "cusum_h": self.drift.cusum_h,
                    "page_hinkley_delta": self.drift.page_hinkley_delta,
                    "page_hinkley_lambda": self.drift.page_hinkley_lambda,
                    "tracking_limit": self.drift.tracking_limit,
                },
            )
        return events, set(events)

    def _reason(self, last: LastForecast | None, drifted: bool, as_of: date) -> str:
        if last is None:
            return "initial"
        if drifted:
            return "drift"
        if (as_of - last.selected_as_of).days >= self.reselect_every:
            return "periodic"
        return "kept"

    def _publish(
        self,
        history: DemandHistory,
        lasts: list[LastForecast | None],
        reasons: list[str],
        fixed: list[str | None],
        result: Any,
    ) -> list[tuple[str, Event]]:
        as_of = history.as_of
        start = as_of + timedelta(days=1)
        observed = ~np.isnan(history.sales)
        first_column = np.argmax(observed, axis=1)
        usable = observed & ~history.censored
        with np.errstate(invalid="ignore"):
            spread = np.nanstd(np.where(usable, history.sales, np.nan), axis=1)
        levels = [str(level) for level in result.quantile_levels]
        provenance = result.provenance
        facts: list[tuple[str, Event]] = []
        for index, (sku, site) in enumerate(zip(history.sku, history.site, strict=True)):
            last = lasts[index]
            model = str(result.model[index])
            reason = reasons[index]
            if reason == "kept" and model != fixed[index]:
                reason = "model unavailable"  # the kept model had no forecast: chosen afresh
            version = 1 if last is None else last.version + 1
            error_scale = _error_scale(result.residual_rmse[index], spread[index])
            uplift = None if result.uplift is None else _round(result.uplift[index])
            facts.append(
                (
                    forecast_stream(sku, site),
                    ForecastPublished(
                        forecast_id=f"{sku}@{site}/v{version}",
                        version=version,
                        sku=sku,
                        site=site,
                        as_of=as_of.isoformat(),
                        freq="D",
                        horizon=self.horizon,
                        start=start.isoformat(),
                        model=model,
                        demand_class=str(result.demand_class[index]),
                        reselected=reason != "kept",
                        reason=reason,
                        parameters={
                            "metric": provenance["metric"],
                            "selection_windows": provenance["selection_windows"],
                            "season_length": provenance["season_length"],
                            "switch_z": provenance["switch_z"],
                            "promotion_uplift": uplift,
                            "censoring": "stock-out days imputed from the past, not scored",
                            "quantiles": "conformal, from cross-validation residuals",
                        },
                        accuracy={
                            "metric": provenance["metric"],
                            "cv_score": _number(result.cv_score[index]),
                            "error_scale": _round(error_scale),
                            "validation_errors": int(provenance["residuals_per_series"][index]),
                        },
                        data_window={
                            "first": (history.first_day + timedelta(days=int(first_column[index]))).isoformat(),
                            "last": as_of.isoformat(),
                            "days": int(observed[index].sum()),
                            "censored_days": int((history.censored[index] & observed[index]).sum()),
                        },
                        point=[_round(value) for value in result.point[index]],
                        quantiles={
                            level: [_round(value) for value in result.quantiles[index, position]]
                            for position, level in enumerate(levels)
                        },
                        lead_time=result.lead_time,
                        lead_time_demand={
                            "mean": _round(result.lead_time_demand_mean[index]),
                            **{
                                level: _round(result.lead_time_demand_quantiles[index, position])
                                for position, level in enumerate(levels)
                            },
                        },
                    ),
                )
            )
        return facts


def _error_scale(residual_rmse: float, spread: float) -> float:
    """The RMS of the model's validation errors; failing that the spread of the history; else 1."""
    for value in (residual_rmse, spread):
        if np.isfinite(value) and value > 0:
            return float(value)
    return 1.0


def _round(value: float) -> float:
    return round(float(value), DIGITS)


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else _round(value)


def _plain(value: Any) -> Any:
    """Provenance made JSON-friendly (arrays summarised, not copied per series)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != "residuals_per_series"}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
