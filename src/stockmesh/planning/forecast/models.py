"""The candidate models, written as vectorised numpy over all series and all cutoffs at once.

Each model forecasts ``horizon`` periods after every cutoff column (training = the columns before
it). The cheap models mirror statsforecast's definitions (Naive, SeasonalNaive, WindowAverage,
SeasonalWindowAverage, CrostonClassic/Optimized/SBA, TSB, ADIDA, IMAPA); SeasonalES and Theta are
simple exponential smoothing and the standard Theta method (SES plus half the linear drift) on
multiplicatively de-seasonalised data, the season kept only where the lag-m autocorrelation is
significant. They need no third-party package, which keeps the core working without the
``[forecast]`` extra; statsforecast's Auto* models are added by :mod:`.auto_models` when installed.

Every forecast is clipped at zero: demand is never negative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stockmesh.planning.forecast.seasonality import (
    MIN_SEASONAL_INDEX,
    seasonal_indices,
    seasonality_detected,
)
from stockmesh.planning.forecast.smoothing import CROSTON_ALPHAS, intermittent_states, ses_levels

SBA_FACTOR = 0.95


@dataclass(frozen=True)
class ModelInput:
    """What every model sees: the cleaned matrix, the cutoff columns, the horizon and season."""

    values: np.ndarray
    cutoffs: np.ndarray
    horizon: int
    season_length: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.values.shape[0], len(self.cutoffs), self.horizon)


Forecasts = dict[str, np.ndarray]


def window_sizes(season_length: int) -> tuple[int, int]:
    """Short and long moving-average windows: (7, 28) days, (4, 13) weeks, (3, 12) months."""
    return {7: (7, 28), 52: (4, 13), 12: (3, 12)}.get(season_length, (3, max(4, season_length)))


def _flat(level: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(level[:, :, None], horizon, axis=2)


def naive_family(data: ModelInput) -> Forecasts:
    """Naive, SeasonalNaive, two WindowAverages and SeasonalWindowAverage.

    SeasonalNaive falls back to Naive for series with less than a full season before the cutoff.
    """
    values, horizon, season = data.values, data.horizon, data.season_length
    short, long = window_sizes(season)
    cycles = max(2, -(-28 // season))
    out: Forecasts = {
        name: np.empty(data.shape)
        for name in (
            "Naive",
            "SeasonalNaive",
            f"WindowAverage({short})",
            f"WindowAverage({long})",
            "SeasonalWindowAverage",
        )
    }
    future_phase = np.arange(horizon) % season
    for slot, cutoff in enumerate(data.cutoffs.tolist()):
        last = values[:, cutoff - 1]
        out["Naive"][:, slot, :] = last[:, None]
        with np.errstate(invalid="ignore"), _quiet():
            for window in (short, long):
                out[f"WindowAverage({window})"][:, slot, :] = np.nanmean(
                    values[:, max(0, cutoff - window) : cutoff], axis=1
                )[:, None]
            if cutoff >= season:
                season_block = values[:, cutoff - season : cutoff]
                seasonal = season_block[:, future_phase]
                out["SeasonalNaive"][:, slot, :] = np.where(np.isnan(seasonal), last[:, None], seasonal)
                n_cycles = min(cycles, cutoff // season)
                block = values[:, cutoff - n_cycles * season : cutoff].reshape(-1, n_cycles, season)
                phase_mean = np.nanmean(block, axis=1)
                phase_mean = np.where(np.isnan(phase_mean), last[:, None], phase_mean)
                out["SeasonalWindowAverage"][:, slot, :] = phase_mean[:, future_phase]
            else:
                out["SeasonalNaive"][:, slot, :] = last[:, None]
                out["SeasonalWindowAverage"][:, slot, :] = out[f"WindowAverage({short})"][:, slot, :]
    return out


def smoothing_family(data: ModelInput) -> Forecasts:
    """SeasonalES (SES on de-seasonalised data) and Theta (the same plus half the linear drift)."""
    values, horizon, season = data.values, data.horizon, data.season_length
    seasonal_es = np.empty(data.shape)
    theta = np.empty(data.shape)
    steps = np.arange(horizon, dtype=np.float64)
    for slot, cutoff in enumerate(data.cutoffs.tolist()):
        history = values[:, :cutoff]
        indices = np.ones((values.shape[0], season))
        if season > 1 and cutoff >= 3 * season:
            detected = seasonality_detected(values, cutoff, season)
            candidate = seasonal_indices(values, cutoff, season, max_cycles=max(3, -(-56 // season)))
            use = detected & (candidate.min(axis=1) > MIN_SEASONAL_INDEX)
            indices = np.where(use[:, None], candidate, 1.0)
        phase = (np.arange(cutoff) - cutoff) % season
        adjusted = history / indices[:, phase]
        fit = ses_levels(adjusted, np.array([cutoff]))
        level, alpha, n_observed = fit.level[:, 0], fit.alpha[:, 0], fit.n_observed[:, 0]
        slope = _ols_slope(adjusted)
        future = indices[:, np.arange(horizon) % season]
        seasonal_es[:, slot, :] = level[:, None] * future
        drift_term = (
            steps[None, :]
            + 1.0 / alpha[:, None]
            - (1 - alpha[:, None]) ** n_observed[:, None] / alpha[:, None]
        )
        theta[:, slot, :] = (level[:, None] + 0.5 * slope[:, None] * drift_term) * future
    return {"SeasonalES": seasonal_es, "Theta": theta}


def _ols_slope(history: np.ndarray) -> np.ndarray:
    observed = ~np.isnan(history)
    time = np.broadcast_to(np.arange(history.shape[1], dtype=np.float64), history.shape)
    y = np.where(observed, history, 0.0)
    t = np.where(observed, time, 0.0)
    count = observed.sum(axis=1)
    sum_t, sum_y = t.sum(axis=1), y.sum(axis=1)
    sum_tt, sum_ty = (t * t).sum(axis=1), (t * y).sum(axis=1)
    denominator = count * sum_tt - sum_t**2
    ok = (count >= 3) & (denominator > 0)
    return np.where(ok, (count * sum_ty - sum_t * sum_y) / np.where(ok, denominator, 1.0), 0.0)


def croston_family(data: ModelInput) -> Forecasts:
    """CrostonClassic (alpha 0.1), CrostonOptimized, CrostonSBA and TSB (constants fitted per series)."""
    states = intermittent_states(data.values, data.cutoffs)
    classic = 0  # CROSTON_ALPHAS[0] == 0.1, statsforecast's classic constant
    with np.errstate(invalid="ignore", divide="ignore"):
        classic_rate = np.nan_to_num(states.size[:, :, classic] / states.interval[:, :, classic])
        optimized_rate = np.nan_to_num(states.size_best / states.interval_best)
        tsb_rate = np.nan_to_num(states.probability_best * states.size_best)
    horizon = data.horizon
    return {
        "CrostonClassic": _flat(classic_rate, horizon),
        "CrostonOptimized": _flat(optimized_rate, horizon),
        "CrostonSBA": _flat(SBA_FACTOR * classic_rate, horizon),
        "TSB": _flat(tsb_rate, horizon),
    }


def aggregation_family(data: ModelInput) -> Forecasts:
    """ADIDA and IMAPA: SES on temporally aggregated demand, at the mean inter-demand interval.

    ADIDA aggregates at the rounded mean interval ``k``; IMAPA averages the forecasts of every
    level 1..k. Both use SES with a constant in [0.1, 0.3], as statsforecast does.
    """
    values = data.values
    adida = np.zeros(data.shape)
    imapa = np.zeros(data.shape)
    for slot, cutoff in enumerate(data.cutoffs.tolist()):
        history = values[:, :cutoff]
        observed = ~np.isnan(history)
        n_observed = observed.sum(axis=1)
        n_positive = (observed & (history > 0)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_interval = np.where(n_positive > 0, n_observed / np.maximum(n_positive, 1), 0)
        level_cap = np.maximum(1, n_observed // 2)
        aggregation = np.clip(np.rint(mean_interval), 1, level_cap).astype(np.int64)
        aggregation = np.where(n_positive > 0, aggregation, 0)
        per_level = {}
        for level in range(1, int(aggregation.max(initial=0)) + 1):
            rows = np.flatnonzero(aggregation >= level)
            per_level[level] = (rows, _aggregated_ses(history[rows], level))
        imapa_sum = np.zeros(values.shape[0])
        for level, (rows, rate) in per_level.items():
            imapa_sum[rows] += rate
            chosen = aggregation[rows] == level
            adida[rows[chosen], slot, :] = rate[chosen, None]
        imapa[:, slot, :] = (imapa_sum / np.maximum(aggregation, 1))[:, None]
    return {"ADIDA": adida, "IMAPA": imapa}


def _aggregated_ses(history: np.ndarray, level: int) -> np.ndarray:
    n_buckets = history.shape[1] // level
    if n_buckets == 0:
        return np.zeros(history.shape[0])
    buckets = history[:, history.shape[1] - n_buckets * level :].reshape(history.shape[0], n_buckets, level)
    sums = buckets.sum(axis=2)  # a bucket reaching before the series' start is NaN and skipped
    fit = ses_levels(sums, np.array([n_buckets]), CROSTON_ALPHAS)
    return np.nan_to_num(fit.level[:, 0]) / level


class _quiet:
    """Silence numpy's 'Mean of empty slice' warning for series that have not started yet."""

    def __enter__(self) -> None:
        import warnings

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catcher.__exit__(*exc)


Family = Callable[[ModelInput], Forecasts]

FAMILIES: dict[str, Family] = {
    "naive": naive_family,
    "smoothing": smoothing_family,
    "croston": croston_family,
    "aggregation": aggregation_family,
}


def cheap_model_names(season_length: int) -> dict[str, tuple[str, ...]]:
    """Candidates per demand class, by Syntetos–Boylan class name."""
    short, long = window_sizes(season_length)
    smooth = (
        "Naive",
        "SeasonalNaive",
        f"WindowAverage({short})",
        f"WindowAverage({long})",
        "SeasonalWindowAverage",
        "SeasonalES",
        "Theta",
    )
    intermittent = (
        "CrostonClassic",
        "CrostonOptimized",
        "CrostonSBA",
        "TSB",
        "ADIDA",
        "IMAPA",
        f"WindowAverage({long})",
    )
    return {"smooth": smooth, "erratic": smooth, "intermittent": intermittent, "lumpy": intermittent}


def run_cheap_models(data: ModelInput) -> Forecasts:
    """Every cheap model at every cutoff: ``{name: (n_series, n_cutoffs, horizon)}``, clipped at zero."""
    forecasts: Forecasts = {}
    for family in FAMILIES.values():
        forecasts.update(family(data))
    for name, forecast in forecasts.items():
        np.maximum(np.nan_to_num(forecast, nan=0.0), 0.0, out=forecast)
        forecasts[name] = forecast
    return forecasts
