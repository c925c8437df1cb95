"""Forecasting and back-testing many series at once: the two entry points of the package.

``forecast_series`` chooses a model per series by rolling-origin cross-validation and returns point
forecasts, quantiles and the lead-time demand distribution. ``backtest`` scores every candidate
model and the automatic selection on the last ``folds`` windows of each series; the selection for
each evaluation window is made, and its conformal quantiles are fitted, only on the
``selection_windows`` windows before it (nested), so its figures are out of sample.

Series are processed in chunks of rows so that memory stays bounded for 100k series.

One piece: both entry points are the same pipeline (prepare the panel, cut it in chunks of
``CHUNK_BYTES``, stack the candidates' forecasts, score the windows, choose, add the expensive
models, fit the conformal quantiles); ``backtest`` runs it nested per evaluation window. Apart,
each module would import a dozen private steps of the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.forecast.accuracy import (
    Accuracy,
    SeriesErrors,
    naive_scales,
    series_errors,
    summarize,
)
from stockmesh.planning.forecast.auto_models import (
    DEFAULT_EXPENSIVE_MODELS,
    ExpensiveBudget,
    pick_expensive_rows,
    run_expensive_models,
)
from stockmesh.planning.forecast.censoring import impute_censored
from stockmesh.planning.forecast.classify import CLASSES, SMOOTH, classify_demand
from stockmesh.planning.forecast.conformal import conformal_offsets, quantile_forecasts
from stockmesh.planning.forecast.models import ModelInput, cheap_model_names, run_cheap_models
from stockmesh.planning.forecast.panel import DemandPanel, Frequency, panel_from_matrix
from stockmesh.planning.forecast.promotions import Uplift, learn_uplift, remove_uplift
from stockmesh.planning.forecast.selection import (
    QUANTILE_LEVELS,
    SWITCH_Z,
    Metric,
    candidate_mask,
    choose_models,
    fallback_model,
    pointwise_losses,
    reselect_with_expensive,
    window_scores,
)

MIN_TRAINING_PERIODS = 2
CHUNK_BYTES = 160_000_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ForecastSettings:
    """How models are chosen and scored.

    ``expensive_models`` (statsforecast's AutoETS, AutoTheta, AutoARIMA; needs the ``[forecast]``
    extra) are tried on at most ``expensive_share`` of the series, the smooth and erratic ones where
    the cheap models did worst, and only for ``expensive_seconds`` of wall-clock time per call.
    ``expensive_models=()`` keeps to the cheap models.
    """

    horizon: int
    selection_windows: int = 3
    metric: Metric = "rmsse"
    switch_z: float = SWITCH_Z
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS
    expensive_models: tuple[str, ...] = DEFAULT_EXPENSIVE_MODELS
    expensive_share: float = 0.01
    expensive_seconds: float = 15.0

    def budget(self) -> ExpensiveBudget | None:
        """A fresh expensive-model budget for one call (``None`` when nothing may be spent)."""
        try:
            return ExpensiveBudget.start(self.expensive_models, self.expensive_share, self.expensive_seconds)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="expensive_models") from exc

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise InvalidInput("the horizon must be at least 1 period", field="horizon")
        if self.selection_windows < 1:
            raise InvalidInput("at least one selection window is needed", field="selection_windows")


# --------------------------------------------------------------------------------------------------
# Shared steps


def _prepare(panel: DemandPanel, learn_until: int) -> tuple[np.ndarray, Uplift | None]:
    """Censored cells imputed from the past, promotion uplift learned before ``learn_until`` and removed."""
    cleaned = impute_censored(panel.values, panel.censored, panel.season_length)
    if panel.promotions is None or not panel.promotions.any():
        return cleaned, None
    uplift = learn_uplift(panel.values, panel.promotions, panel.censored, until=learn_until)
    return remove_uplift(cleaned, panel.promotions, uplift), uplift


def _stacked_forecasts(
    cleaned: np.ndarray, cutoffs: np.ndarray, horizon: int, season: int
) -> tuple[list[str], np.ndarray]:
    forecasts = run_cheap_models(ModelInput(cleaned, cutoffs, horizon, season))
    names = list(forecasts)
    return names, np.stack([forecasts[name] for name in names])


def _target_windows(matrix: np.ndarray, cutoffs: np.ndarray, horizon: int) -> np.ndarray:
    """``(n_series, n_cutoffs, horizon)`` cells after each cutoff (cutoffs must leave ``horizon`` columns)."""
    columns = cutoffs[:, None] + np.arange(horizon)[None, :]
    return matrix[:, columns]


def _actuals(panel: DemandPanel, cutoffs: np.ndarray, horizon: int) -> np.ndarray:
    """Actuals after each cutoff; NaN where censored, or where the series had too little history
    before the cutoff for its forecast to mean anything (a window it started inside)."""
    actual = _target_windows(panel.values, cutoffs, horizon)
    if panel.censored is not None:
        actual = np.where(_target_windows(panel.censored, cutoffs, horizon), np.nan, actual)
    observed = np.cumsum(~np.isnan(panel.values), axis=1)
    before = np.where(cutoffs > 0, observed[:, np.maximum(cutoffs - 1, 0)], 0)
    return np.where((before >= MIN_TRAINING_PERIODS)[:, :, None], actual, np.nan)


def _promotion_factor(
    panel: DemandPanel, uplift: Uplift | None, cutoffs: np.ndarray, horizon: int
) -> np.ndarray | None:
    if uplift is None or panel.promotions is None:
        return None
    flagged = _target_windows(panel.promotions, cutoffs, horizon)
    return np.where(flagged, uplift.factor[:, None, None], 1.0)


def _chunks(n_series: int, n_models: int, n_cutoffs: int, horizon: int) -> list[slice]:
    per_row = 8 * max(n_models, 1) * max(n_cutoffs, 1) * horizon * 3
    rows = max(500, CHUNK_BYTES // per_row)
    return [slice(start, min(start + rows, n_series)) for start in range(0, n_series, rows)]


def _as_panel(history: Any, freq: Frequency, censored: Any, promotions: Any) -> DemandPanel:
    if isinstance(history, DemandPanel):
        panel = history
        if censored is None and promotions is None:
            return panel
        return DemandPanel(
            sku=panel.sku,
            site=panel.site,
            values=panel.values,
            freq=panel.freq,
            last_period=panel.last_period,
            censored=panel.censored if censored is None else np.asarray(censored, dtype=bool),
            promotions=panel.promotions if promotions is None else np.asarray(promotions, dtype=bool),
        )
    if hasattr(history, "columns"):
        return _panel_from_frame(history, freq, censored, promotions)
    return panel_from_matrix(
        np.asarray(history, dtype=np.float64), freq=freq, censored=censored, promotions=promotions
    )


def _panel_from_frame(frame: Any, freq: Frequency | None, censored: Any, promotions: Any) -> DemandPanel:
    from stockmesh.planning.forecast.panel import dates_to_periods, detect_frequency, panel_from_long

    missing = [name for name in ("sku", "site", "date", "qty") if name not in frame.columns]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}", field=missing[0])
    days = np.asarray(frame["date"].to_numpy(), dtype="datetime64[D]")
    chosen = freq or detect_frequency(days)
    flags = {
        name: (np.asarray(frame[name].to_numpy(), dtype=bool) if name in frame.columns else None)
        for name in ("censored", "promo")
    }
    return panel_from_long(
        frame["sku"].astype(str).to_numpy(),
        frame["site"].astype(str).to_numpy(),
        dates_to_periods(days, chosen),
        frame["qty"].to_numpy(dtype=np.float64),
        freq=chosen,
        censored=flags["censored"],
        promotions=flags["promo"],
    )


# --------------------------------------------------------------------------------------------------
# Forecasting


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of many series, with what an agent needs to act on them and to explain them.

    ``quantiles`` is ``(n_series, n_levels, horizon)`` for ``quantile_levels``;
    ``lead_time_demand_quantiles`` is ``(n_series, n_levels)``: the distribution of the total demand
    over the first ``lead_time`` periods. ``cv_score`` is each series' cross-validated score of its
    chosen model (RMSSE, MASE or scaled pinball; NaN when the series had no window to score);
    ``residual_rmse`` the root mean square of its cross-validation residuals, in units of demand
    (the error scale that drift detection divides by).
    """

    sku: np.ndarray
    site: np.ndarray
    demand_class: np.ndarray
    model: np.ndarray
    point: np.ndarray
    quantile_levels: tuple[float, ...]
    quantiles: np.ndarray
    lead_time: int
    lead_time_demand_mean: np.ndarray
    lead_time_demand_quantiles: np.ndarray
    cv_score: np.ndarray
    uplift: np.ndarray | None
    provenance: dict[str, Any] = field(default_factory=dict)
    residual_rmse: np.ndarray | None = None

    def quantile(self, level: float) -> np.ndarray:
        """``(n_series, horizon)`` forecast quantile at one of ``quantile_levels``."""
        return self.quantiles[:, self.quantile_levels.index(level), :]

    def lead_time_demand(self, level: float) -> np.ndarray:
        """Per series, the lead-time demand quantile at one of ``quantile_levels``."""
        return self.lead_time_demand_quantiles[:, self.quantile_levels.index(level)]

    @property
    def lead_time_demand_p95(self) -> np.ndarray:
        return self.lead_time_demand(0.95)


def forecast_series(
    history: Any,
    horizon: int,
    *,
    censored: np.ndarray | None = None,
    promotions: np.ndarray | None = None,
    future_promotions: np.ndarray | None = None,
    lead_time: int | None = None,
    freq: Frequency = "D",
    settings: ForecastSettings | None = None,
    progress: Progress | None = None,
    fixed_models: Any = None,
) -> ForecastResult:
    """Choose a model per series, then forecast ``horizon`` periods with quantiles.

    ``history`` is a :class:`DemandPanel`, an ``(n_series, n_periods)`` array aligned on the last
    period (NaN before a series starts; ``freq`` tells its periods), or a long pandas DataFrame
    ``sku, site, date, qty`` (optional ``censored``, ``promo`` columns). ``censored`` marks
    stock-out periods (excluded from fitting and scoring, not read as zero demand); ``promotions``
    marks past promotion periods and ``future_promotions`` ``(n_series, horizon)`` the planned ones.
    ``fixed_models`` optionally names, per series, a model to keep instead of choosing (``None`` or
    ``""`` to choose); a named model that is unknown or has no forecast is chosen afresh.
    """
    config = settings or ForecastSettings(horizon=horizon)
    if config.horizon != horizon:
        config = replace(config, horizon=horizon)
    panel = _as_panel(history, freq, censored, promotions)
    if panel.n_series == 0:
        raise InvalidInput("there is no series to forecast")
    lead = horizon if lead_time is None else int(lead_time)
    if not 1 <= lead <= horizon:
        raise InvalidInput(f"the lead time must be between 1 and the horizon ({horizon})", field="lead_time")
    n_periods = panel.n_periods
    windows = [n_periods - horizon * k for k in range(config.selection_windows, 0, -1)]
    windows = [cutoff for cutoff in windows if cutoff >= MIN_TRAINING_PERIODS]
    cutoffs = np.array([*windows, n_periods])
    future = (
        None if future_promotions is None else np.asarray(future_promotions, dtype=bool).reshape(-1, horizon)
    )

    parts: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    defaults_seen: dict[str, str] = {}
    n_models = len(cheap_model_names(panel.season_length)["smooth"]) * 2
    budget = config.budget() if windows else None
    fixed = None if fixed_models is None else np.asarray(fixed_models, dtype=object).reshape(panel.n_series)
    for rows in _chunks(panel.n_series, n_models, len(cutoffs), horizon):
        whole = panel.n_series == rows.stop - rows.start
        chunk = panel if whole else panel.take(np.arange(rows.start, rows.stop), trim=False)
        part, names, defaults = _forecast_chunk(
            chunk, cutoffs, config, lead, None if future is None else future[rows], budget,
            None if fixed is None else fixed[rows],
        )
        parts.append(part)
        defaults_seen.update(defaults)
        if progress is not None:
            progress(rows.stop - rows.start)
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return ForecastResult(
        sku=panel.sku,
        site=panel.site,
        demand_class=np.asarray(CLASSES, dtype=object)[merged["demand_class"]],
        model=np.asarray(names, dtype=object)[merged["model"]],
        point=merged["point"],
        quantile_levels=config.quantile_levels,
        quantiles=merged["quantiles"],
        lead_time=lead,
        lead_time_demand_mean=merged["ltd_mean"],
        lead_time_demand_quantiles=merged["ltd_quantiles"],
        cv_score=merged["cv_score"],
        residual_rmse=merged["residual_rmse"],
        uplift=merged.get("uplift"),
        provenance={
            "method": "per-series selection by rolling-origin cross-validation, conformal quantiles",
            "metric": config.metric,
            "selection_windows": len(windows),
            "horizon": horizon,
            "freq": panel.freq,
            "season_length": panel.season_length,
            "switch_z": config.switch_z,
            "class_defaults": defaults_seen,
            "censored_periods": int(panel.censored.sum()) if panel.censored is not None else 0,
            "candidates": cheap_model_names(panel.season_length),
            "expensive": None if budget is None else budget.describe(),
            "residuals_per_series": merged["n_residuals"],
            "notes": list(panel.notes)
            + ([] if windows else ["history too short for any validation window: class defaults used"]),
        },
    )


def _forecast_chunk(
    panel: DemandPanel,
    cutoffs: np.ndarray,
    config: ForecastSettings,
    lead: int,
    future_promotions: np.ndarray | None,
    budget: ExpensiveBudget | None = None,
    fixed: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], list[str], dict[str, str]]:
    horizon, n_series = config.horizon, panel.n_series
    cleaned, uplift = _prepare(panel, learn_until=panel.n_periods)
    names, stack = _stacked_forecasts(cleaned, cutoffs, horizon, panel.season_length)
    n_windows = len(cutoffs) - 1
    rows = np.arange(n_series)
    classes = classify_demand(cleaned).demand_class
    scales = naive_scales(panel.values, panel.censored)
    allowed = candidate_mask(names, cheap_model_names(panel.season_length))

    if n_windows:
        window_cutoffs = cutoffs[:-1]
        actual = _actuals(panel, window_cutoffs, horizon)
        factor = _promotion_factor(panel, uplift, window_cutoffs, horizon)

        def _window_losses(forecasts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            validation = forecasts[:, :, :n_windows, :]
            if factor is not None:
                validation = validation * factor[None]
            flat = (actual[None] - validation).reshape(forecasts.shape[0], n_series, -1)
            losses = np.stack([pointwise_losses(part, config.metric) for part in flat])
            return validation, flat, losses

        validation, flat, losses = _window_losses(stack)
        chosen, defaults = choose_models(losses, classes, allowed, scales, config.metric, config.switch_z)
        if budget is not None:
            priority = None if fixed is None else np.isin(fixed, budget.models)
            extra, evaluated = _expensive_forecasts(
                budget, cleaned, cutoffs, panel.season_length, losses, allowed, classes, scales, config, priority
            )
            extra_validation, extra_flat, extra_losses = _window_losses(extra)
            n_cheap = len(names)
            names = [*names, *budget.models]
            stack = np.concatenate([stack, extra])
            validation = np.concatenate([validation, extra_validation])
            flat = np.concatenate([flat, extra_flat])
            losses = np.concatenate([losses, extra_losses])
            chosen = reselect_with_expensive(
                losses, chosen, np.flatnonzero(evaluated), np.arange(n_cheap, len(names)), classes, scales,
                config.metric, config.switch_z,
            )
        chosen = _keep_fixed(chosen, names, fixed, stack)
        scores = window_scores(losses[chosen, rows], config.metric)
        chosen_residuals = flat[chosen, rows]
        cv_score = scores / np.where(scales.usable, _metric_scale(scales, config.metric), np.nan)
        sums_actual = actual[:, :, :lead].sum(axis=2)
        sums_forecast = validation[chosen, rows][:, :, :lead].sum(axis=2)
        ltd_residuals = sums_actual - sums_forecast
    else:
        defaults = np.array([fallback_model(allowed, index) for index in range(len(CLASSES))])
        chosen = _keep_fixed(defaults[classes], names, fixed, stack)
        chosen_residuals = np.full((n_series, 1), np.nan)
        ltd_residuals = np.full((n_series, 1), np.nan)
        cv_score = np.full(n_series, np.nan)
    # A series with a single observation has nothing to choose from: repeat it.
    too_short = (~np.isnan(cleaned)).sum(axis=1) < MIN_TRAINING_PERIODS
    chosen = np.where(too_short, names.index("Naive"), chosen)

    point = stack[chosen, rows, -1, :]
    if uplift is not None and future_promotions is not None:
        point = np.where(future_promotions, point * uplift.factor[:, None], point)
    spread = np.sqrt(scales.squared)
    levels = config.quantile_levels
    offsets = conformal_offsets(chosen_residuals, classes, spread, levels)
    quantiles = quantile_forecasts(point, offsets)
    ltd_mean = point[:, :lead].sum(axis=1)
    ltd_offsets = conformal_offsets(ltd_residuals, classes, spread * np.sqrt(lead), levels)
    ltd_quantiles = np.maximum.accumulate(np.maximum(ltd_mean[:, None] + ltd_offsets, 0.0), axis=1)
    part = {
        "demand_class": classes,
        "model": chosen,
        "point": point,
        "quantiles": quantiles,
        "ltd_mean": ltd_mean,
        "ltd_quantiles": ltd_quantiles,
        "cv_score": cv_score,
        "residual_rmse": _root_mean_square(chosen_residuals),
        "n_residuals": (~np.isnan(chosen_residuals)).sum(axis=1),
    }
    if uplift is not None:
        part["uplift"] = uplift.factor
    class_defaults = {CLASSES[index]: names[model] for index, model in enumerate(defaults) if model >= 0}
    return part, names, class_defaults


def _expensive_forecasts(
    budget: ExpensiveBudget,
    cleaned: np.ndarray,
    cutoffs: np.ndarray,
    season_length: int,
    losses: np.ndarray,
    allowed: np.ndarray,
    classes: np.ndarray,
    scales: Any,
    config: ForecastSettings,
    priority: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The budget's expensive models ``(n_expensive, n_series, n_cutoffs, horizon)`` (NaN where not
    run) on the series where even the best cheap smooth-demand model scored worst in ``losses``."""
    scores = np.stack([window_scores(loss, config.metric) for loss in losses], axis=1)
    scale = _metric_scale(scales, config.metric)
    scaled = scores / np.where(scales.usable, scale, np.nan)[:, None]
    usable = allowed[SMOOTH][None, :] & np.isfinite(scaled)
    best = np.min(np.where(usable, scaled, np.inf), axis=1)
    best = np.where(np.isfinite(best), best, np.nan)
    n_observed = (~np.isnan(cleaned[:, : int(cutoffs[0])])).sum(axis=1)
    rows = pick_expensive_rows(classes, best, n_observed, budget.share, priority)
    forecasts, evaluated = run_expensive_models(
        cleaned, rows, cutoffs, config.horizon, season_length, budget
    )
    return np.stack([forecasts[name] for name in budget.models]), evaluated


def _keep_fixed(chosen: np.ndarray, names: list[str], fixed: np.ndarray | None, stack: np.ndarray) -> np.ndarray:
    """Series with a model to keep get it, where it exists and has a forecast at the origin."""
    if fixed is None:
        return chosen
    index = {name: position for position, name in enumerate(names)}
    wanted = np.array([index.get(name, -1) if isinstance(name, str) else -1 for name in fixed])
    rows = np.flatnonzero(wanted >= 0)
    has_forecast = np.isfinite(stack[wanted[rows], rows, -1, :]).all(axis=1)
    kept = chosen.copy()
    kept[rows[has_forecast]] = wanted[rows[has_forecast]]
    return kept


def _root_mean_square(residuals: np.ndarray) -> np.ndarray:
    observed = ~np.isnan(residuals)
    count = observed.sum(axis=1)
    total = np.where(observed, residuals * residuals, 0.0).sum(axis=1)
    return np.where(count > 0, np.sqrt(total / np.maximum(count, 1)), np.nan)


def _metric_scale(scales: Any, metric: Metric) -> np.ndarray:
    return np.sqrt(scales.squared) if metric == "rmsse" else scales.absolute


# --------------------------------------------------------------------------------------------------
# Back-testing


@dataclass(frozen=True)
class BacktestReport:
    """Figures per method and for the automatic selection (scored out of sample only)."""

    series: int
    skipped_short: int
    methods: dict[str, Accuracy]
    selected: Accuracy
    selected_models: dict[str, int]
    horizon: int
    folds: int
    selection_windows: int
    metric: str
    freq: str
    notes: tuple[str, ...]

    def best_method(self) -> str | None:
        """The single method with the lowest RMSSE in hindsight (``None`` when no RMSSE is defined:
        every series had a constant history)."""
        scored = [name for name, accuracy in self.methods.items() if np.isfinite(accuracy.rmsse)]
        return min(scored, key=lambda name: self.methods[name].rmsse) if scored else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "skipped_short": self.skipped_short,
            "horizon": self.horizon,
            "folds": self.folds,
            "selection_windows": self.selection_windows,
            "metric": self.metric,
            "freq": self.freq,
            "methods": {name: accuracy.as_dict() for name, accuracy in self.methods.items()},
            "selected": self.selected.as_dict(),
            "selected_models": self.selected_models,
            "notes": list(self.notes),
        }


def backtest(
    panel: DemandPanel,
    horizon: int,
    *,
    folds: int = 3,
    settings: ForecastSettings | None = None,
    progress: Progress | None = None,
) -> BacktestReport:
    """Score every candidate and the nested automatic selection on each series' last ``folds`` windows.

    Raises ``InvalidInput`` when no series is long enough for one training period and ``folds``
    windows of ``horizon`` periods.
    """
    config = settings or ForecastSettings(horizon=horizon)
    if folds < 1:
        raise InvalidInput("at least one fold is needed", field="folds")
    n_periods = panel.n_periods
    evaluated_from = n_periods - folds * horizon
    if evaluated_from < MIN_TRAINING_PERIODS:
        raise InvalidInput(
            f"the longest series has {n_periods} periods: too short for {folds} fold(s) of {horizon} "
            f"periods after at least {MIN_TRAINING_PERIODS} periods of history",
            field="horizon",
        )
    inner = min(config.selection_windows, (evaluated_from - MIN_TRAINING_PERIODS) // horizon)
    notes = list(panel.notes)
    if inner < config.selection_windows:
        notes.append(
            f"only {inner} selection window(s) fit before the first fold (asked {config.selection_windows})"
        )
    n_windows = inner + folds
    cutoffs = np.array([n_periods - horizon * k for k in range(n_windows, 0, -1)])

    observed_before = (~np.isnan(panel.values[:, :evaluated_from])).sum(axis=1)
    long_enough = observed_before >= MIN_TRAINING_PERIODS
    skipped = int((~long_enough).sum())
    if not long_enough.any():
        raise InvalidInput(
            f"no series has {MIN_TRAINING_PERIODS} periods before its last {folds} x {horizon} periods",
            field="horizon",
        )
    if skipped:
        notes.append(f"{skipped} series too short for the back-test were skipped")
    usable = panel.take(np.flatnonzero(long_enough), trim=False) if skipped else panel

    method_errors: dict[str, list[SeriesErrors]] = {}
    selected_errors: list[SeriesErrors] = []
    selected_counts: dict[str, int] = {}
    scale_parts = []
    season = usable.season_length
    n_models = len(cheap_model_names(season)["smooth"]) * 2
    budget = config.budget() if inner else None
    for rows in _chunks(usable.n_series, n_models, n_windows, horizon):
        whole = usable.n_series == rows.stop - rows.start
        chunk = usable if whole else usable.take(np.arange(rows.start, rows.stop), trim=False)
        names, per_method, selected, counts, scales = _backtest_chunk(chunk, cutoffs, inner, config, budget)
        for name, errors in per_method.items():
            method_errors.setdefault(name, []).append(errors)
        selected_errors.append(selected)
        for name, count in counts.items():
            selected_counts[name] = selected_counts.get(name, 0) + count
        scale_parts.append(scales)
        if progress is not None:
            progress(rows.stop - rows.start)
    from stockmesh.planning.forecast.accuracy import Scales

    scales_all = Scales(
        squared=np.concatenate([part.squared for part in scale_parts]),
        absolute=np.concatenate([part.absolute for part in scale_parts]),
    )
    if budget is not None:
        notes.append(
            f"expensive candidates {', '.join(budget.models)} evaluated on {budget.evaluated} of "
            f"{usable.n_series} series (share {budget.share:g}, the smooth and erratic series where cheap "
            f"models did worst{'; stopped by the time budget' if budget.stopped_by_time else ''})"
        )
    # A method run on only some series (an expensive one, within its budget) is not a single method
    # one could have chosen in hindsight: it is left out of the per-method figures.
    methods = {
        name: summarize(SeriesErrors.concatenate(parts), scales_all)
        for name, parts in method_errors.items()
        if all(np.isfinite(part.mse[part.points > 0]).all() for part in parts)
    }
    return BacktestReport(
        series=usable.n_series,
        skipped_short=skipped,
        methods=methods,
        selected=summarize(SeriesErrors.concatenate(selected_errors), scales_all),
        selected_models=dict(sorted(selected_counts.items(), key=lambda item: -item[1])),
        horizon=horizon,
        folds=folds,
        selection_windows=inner,
        metric=config.metric,
        freq=panel.freq,
        notes=tuple(notes),
    )


def _backtest_chunk(
    panel: DemandPanel,
    cutoffs: np.ndarray,
    inner: int,
    config: ForecastSettings,
    budget: ExpensiveBudget | None = None,
) -> tuple[list[str], dict[str, SeriesErrors], SeriesErrors, dict[str, int], Any]:
    horizon, n_series = config.horizon, panel.n_series
    first_evaluated = int(cutoffs[inner])
    # Uplift is learned before the first evaluated window only, so no window sees its future.
    cleaned, uplift = _prepare(panel, learn_until=int(cutoffs[0]))
    names, stack = _stacked_forecasts(cleaned, cutoffs, horizon, panel.season_length)
    factor = _promotion_factor(panel, uplift, cutoffs, horizon)
    if factor is not None:
        stack = stack * factor[None]
    actual = _actuals(panel, cutoffs, horizon)
    residuals = actual[None] - stack
    scales = naive_scales(panel.values, panel.censored, until=first_evaluated)
    allowed = candidate_mask(names, cheap_model_names(panel.season_length))
    rows = np.arange(n_series)
    levels = config.quantile_levels
    n_cheap = len(names)
    evaluated = np.zeros(n_series, dtype=bool)
    if budget is not None:
        # Which series get the expensive models is decided on the windows before the first fold.
        before = residuals[:, :, :inner, :].reshape(n_cheap, n_series, -1)
        first_losses = np.stack([pointwise_losses(part, config.metric) for part in before])
        extra, evaluated = _expensive_forecasts(
            budget,
            cleaned,
            cutoffs,
            panel.season_length,
            first_losses,
            allowed,
            classify_demand(cleaned[:, :first_evaluated]).demand_class,
            naive_scales(panel.values, panel.censored, until=first_evaluated),
            config,
        )
        if factor is not None:
            extra = extra * factor[None]
        names = [*names, *budget.models]
        stack = np.concatenate([stack, extra])
        residuals = np.concatenate([residuals, actual[None] - extra])
        allowed = np.concatenate([allowed, np.zeros((len(CLASSES), len(budget.models)), dtype=bool)], axis=1)
    expensive = np.arange(n_cheap, len(names))
    evaluated_rows = np.flatnonzero(evaluated)

    fold_points: dict[str, list[np.ndarray]] = {name: [] for name in [*names, "_selected"]}
    fold_quantiles: dict[str, list[np.ndarray]] = {name: [] for name in [*names, "_selected"]}
    fold_actuals: list[np.ndarray] = []
    counts: dict[str, int] = {}
    for window in range(inner, len(cutoffs)):
        cutoff = int(cutoffs[window])
        train_windows = slice(max(0, window - inner), window)
        classes = classify_demand(cleaned[:, :cutoff]).demand_class
        spread = np.sqrt(naive_scales(panel.values, panel.censored, until=cutoff).squared)
        inner_residuals = residuals[:, :, train_windows, :].reshape(len(names), n_series, -1)
        fold_actuals.append(actual[:, window, :])
        for index, name in enumerate(names):
            offsets = conformal_offsets(inner_residuals[index], classes, spread, levels)
            fold_points[name].append(stack[index, :, window, :])
            fold_quantiles[name].append(quantile_forecasts(stack[index, :, window, :], offsets))
        window_scales = naive_scales(panel.values, panel.censored, until=cutoff)
        losses = np.stack(
            [pointwise_losses(inner_residuals[index], config.metric) for index in range(len(names))]
        )
        chosen, _ = choose_models(losses, classes, allowed, window_scales, config.metric, config.switch_z)
        chosen = reselect_with_expensive(
            losses, chosen, evaluated_rows, expensive, classes, window_scales, config.metric, config.switch_z
        )
        offsets = conformal_offsets(inner_residuals[chosen, rows], classes, spread, levels)
        point = stack[chosen, rows, window, :]
        fold_points["_selected"].append(point)
        fold_quantiles["_selected"].append(quantile_forecasts(point, offsets))
        if window == len(cutoffs) - 1:
            for model, count in zip(*np.unique(chosen, return_counts=True), strict=True):
                counts[names[int(model)]] = int(count)
    actual_points = np.concatenate(fold_actuals, axis=1)

    def _errors(name: str) -> SeriesErrors:
        point = np.concatenate(fold_points[name], axis=1)
        quantiles = np.concatenate(fold_quantiles[name], axis=2)
        return series_errors(
            actual_points, point, {level: quantiles[:, i, :] for i, level in enumerate(levels)}
        )

    per_method = {name: _errors(name) for name in names}
    return names, per_method, _errors("_selected"), counts, scales
