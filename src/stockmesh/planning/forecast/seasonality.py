"""Seasonal indices and the seasonality test used by the seasonal models, per cutoff.

Phases are counted back from the cutoff: the column ``cutoff - 1`` is the last phase of the last
full cycle, and the future column ``cutoff + s`` has phase ``s mod m``.
"""

from __future__ import annotations

import numpy as np

MIN_SEASONAL_INDEX = 0.05


def seasonal_indices(values: np.ndarray, cutoff: int, season_length: int, max_cycles: int) -> np.ndarray:
    """Multiplicative seasonal indices ``(n_series, m)`` from the last full cycles before ``cutoff``.

    Each cycle is divided by its own mean (which removes a slow trend), the ratios are averaged per
    phase and normalised to mean 1. Series with no usable full cycle get indices of 1.
    """
    n_series = values.shape[0]
    cycles = min(max_cycles, cutoff // season_length)
    if cycles < 1:
        return np.ones((n_series, season_length))
    block = values[:, cutoff - cycles * season_length : cutoff].reshape(n_series, cycles, season_length)
    cycle_mean = block.mean(axis=2, keepdims=True)  # NaN when the cycle is not fully observed
    usable = np.isfinite(cycle_mean) & (cycle_mean > 0)
    ratios = np.where(usable, block / np.where(usable, cycle_mean, 1.0), np.nan)
    n_usable = usable[:, :, 0].sum(axis=1)
    with np.errstate(invalid="ignore"):
        indices = np.nansum(ratios, axis=1) / np.maximum(n_usable, 1)[:, None]
    indices = np.where(n_usable[:, None] > 0, indices, 1.0)
    mean_index = indices.mean(axis=1, keepdims=True)
    return np.where(mean_index > 0, indices / np.where(mean_index > 0, mean_index, 1.0), 1.0)


def seasonality_detected(values: np.ndarray, cutoff: int, season_length: int) -> np.ndarray:
    """Per series: is the autocorrelation at lag ``m`` significant (90 % one-sided, as in Theta)?

    Needs at least three full cycles of observations before ``cutoff``; otherwise False.
    """
    history = values[:, :cutoff]
    observed = ~np.isnan(history)
    n_observed = observed.sum(axis=1)
    if season_length < 2 or history.shape[1] <= season_length:
        return np.zeros(values.shape[0], dtype=bool)
    mean = np.nansum(history, axis=1) / np.maximum(n_observed, 1)
    centred = np.where(observed, history - mean[:, None], 0.0)
    denominator = np.sum(centred * centred, axis=1)
    safe = np.where(denominator > 0, denominator, 1.0)
    autocorrelations = np.empty((values.shape[0], season_length))
    for lag in range(1, season_length + 1):
        autocorrelations[:, lag - 1] = np.sum(centred[:, lag:] * centred[:, :-lag], axis=1) / safe
    squares = np.sum(autocorrelations[:, :-1] ** 2, axis=1)
    limit = 1.645 * np.sqrt((1 + 2 * squares) / np.maximum(n_observed, 1))
    return (n_observed >= 3 * season_length) & (denominator > 0) & (np.abs(autocorrelations[:, -1]) > limit)
