"""Vectorised exponential-smoothing recursions shared by the models.

Each recursion walks the columns once, updating the state of every series and every smoothing
constant of a small grid at the same time. The state is recorded just before each cutoff column,
so one pass gives the forecasts of every back-test window. The smoothing constant is chosen per
series and per cutoff by the in-sample one-step squared error accumulated *before* that cutoff, so
no window ever sees its own future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SES_ALPHAS = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.65, 0.9])
CROSTON_ALPHAS = np.array([0.1, 0.15, 0.2, 0.25, 0.3])


def _record_positions(cutoffs: np.ndarray) -> dict[int, list[int]]:
    positions: dict[int, list[int]] = {}
    for slot, cutoff in enumerate(np.asarray(cutoffs).tolist()):
        positions.setdefault(int(cutoff), []).append(slot)
    return positions


@dataclass(frozen=True)
class SesLevels:
    """Per series and cutoff: the level with the best constant, that constant, and the observed count."""

    level: np.ndarray
    alpha: np.ndarray
    n_observed: np.ndarray


def ses_levels(values: np.ndarray, cutoffs: np.ndarray, alphas: np.ndarray = SES_ALPHAS) -> SesLevels:
    """Simple exponential smoothing of every row, the constant picked from ``alphas`` per cutoff.

    The level starts at the first observation. NaN cells leave the state unchanged.
    """
    n_series = values.shape[0]
    grid = alphas[None, :]
    level = np.full((n_series, alphas.size), np.nan)
    sse = np.zeros((n_series, alphas.size))
    n_observed = np.zeros(n_series)
    out_level = np.full((n_series, len(cutoffs)), np.nan)
    out_alpha = np.full((n_series, len(cutoffs)), alphas[0])
    out_count = np.zeros((n_series, len(cutoffs)))
    record = _record_positions(cutoffs)
    rows = np.arange(n_series)

    def _store(slots: list[int]) -> None:
        best = np.argmin(sse, axis=1)
        for slot in slots:
            out_level[:, slot] = level[rows, best]
            out_alpha[:, slot] = alphas[best]
            out_count[:, slot] = n_observed

    last = int(np.max(cutoffs))
    for column in range(last):
        if column in record:
            _store(record[column])
        current = values[:, column : column + 1]
        valid = ~np.isnan(current)
        started = ~np.isnan(level)
        error = current - level
        update = valid & started
        sse += np.where(update, error * error, 0.0)
        level = np.where(update, level + grid * error, np.where(valid, current, level))
        n_observed += valid[:, 0]
    if last in record:
        _store(record[last])
    return SesLevels(level=out_level, alpha=out_alpha, n_observed=out_count)


@dataclass(frozen=True)
class IntermittentStates:
    """States for the Croston and TSB families at each cutoff, per smoothing constant.

    ``size`` and ``interval`` are the smoothed non-zero demand size and inter-demand interval
    (updated only when demand occurs); ``probability`` is the smoothed demand indicator (updated
    every period). ``*_best`` are the states with the constant that had the least in-sample error.
    """

    size: np.ndarray
    interval: np.ndarray
    probability: np.ndarray
    size_best: np.ndarray
    interval_best: np.ndarray
    probability_best: np.ndarray
    alphas: np.ndarray


def intermittent_states(
    values: np.ndarray, cutoffs: np.ndarray, alphas: np.ndarray = CROSTON_ALPHAS
) -> IntermittentStates:
    """One pass over the columns giving Croston's and TSB's states at every cutoff.

    As in statsforecast, the first inter-demand interval counts from the series' first period, and
    each smoothed quantity starts at its first value.
    """
    n_series = values.shape[0]
    n_alphas = alphas.size
    grid = alphas[None, :]
    size = np.full((n_series, n_alphas), np.nan)
    interval = np.full((n_series, n_alphas), np.nan)
    probability = np.full((n_series, n_alphas), np.nan)
    sse_size = np.zeros((n_series, n_alphas))
    sse_interval = np.zeros((n_series, n_alphas))
    sse_probability = np.zeros((n_series, n_alphas))
    since_demand = np.zeros((n_series, 1))
    n_cut = len(cutoffs)
    shape = (n_series, n_cut, n_alphas)
    out = {name: np.full(shape, np.nan) for name in ("size", "interval", "probability")}
    best = {name: np.full((n_series, n_cut), np.nan) for name in ("size", "interval", "probability")}
    record = _record_positions(cutoffs)
    rows = np.arange(n_series)

    def _store(slots: list[int]) -> None:
        picks = {
            "size": (size, np.argmin(sse_size, axis=1)),
            "interval": (interval, np.argmin(sse_interval, axis=1)),
            "probability": (probability, np.argmin(sse_probability, axis=1)),
        }
        for slot in slots:
            for name, (state, choice) in picks.items():
                out[name][:, slot, :] = state
                best[name][:, slot] = state[rows, choice]

    last = int(np.max(cutoffs))
    for column in range(last):
        if column in record:
            _store(record[column])
        current = values[:, column : column + 1]
        valid = ~np.isnan(current)
        since_demand = since_demand + valid
        demand = valid & (current > 0)
        indicator = (current > 0).astype(np.float64)

        started = ~np.isnan(probability)
        error = indicator - probability
        sse_probability += np.where(valid & started, error * error, 0.0)
        probability = np.where(
            valid & started, probability + grid * error, np.where(valid, indicator, probability)
        )

        started = ~np.isnan(size)
        size_error = current - size
        interval_error = since_demand - interval
        update = demand & started
        sse_size += np.where(update, size_error * size_error, 0.0)
        sse_interval += np.where(update, interval_error * interval_error, 0.0)
        size = np.where(update, size + grid * size_error, np.where(demand, current, size))
        interval = np.where(
            update, interval + grid * interval_error, np.where(demand, since_demand, interval)
        )
        since_demand = np.where(demand, 0.0, since_demand)
    if last in record:
        _store(record[last])
    return IntermittentStates(
        size=out["size"],
        interval=out["interval"],
        probability=out["probability"],
        size_best=best["size"],
        interval_best=best["interval"],
        probability_best=best["probability"],
        alphas=alphas,
    )
