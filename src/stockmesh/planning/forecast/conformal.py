"""Conformal quantiles from cross-validation residuals.

For each series the residuals ``actual - forecast`` of its chosen model in the selection windows
give an empirical distribution of errors; the forecast quantile at level ``p`` is the forecast plus
the split-conformal quantile of those residuals (the ``ceil((n + 1) p)``-th smallest). A series
with few residuals cannot support a p99, so its offset is blended with the quantile of the
residuals of its whole demand class, pooled after dividing each by its series' scale:
``weight = n (1 - p) / (n (1 - p) + PRIOR_EXCEEDANCES)``. Quantiles are clipped at zero and made
monotone in ``p``.
"""

from __future__ import annotations

import numpy as np

PRIOR_EXCEEDANCES = 2.0


def conformal_rank_quantile(residuals: np.ndarray, level: float) -> np.ndarray:
    """Per row: the ``ceil((n + 1) level)``-th smallest non-NaN residual (NaN for an empty row)."""
    ordered = np.sort(residuals, axis=1)  # NaN sort last
    n = (~np.isnan(residuals)).sum(axis=1)
    rank = np.clip(np.ceil((n + 1) * level).astype(np.int64), 1, np.maximum(n, 1)) - 1
    picked = np.take_along_axis(ordered, rank[:, None], axis=1)[:, 0]
    return np.where(n > 0, picked, np.nan)


def conformal_offsets(
    residuals: np.ndarray,
    groups: np.ndarray,
    scale: np.ndarray,
    levels: tuple[float, ...],
) -> np.ndarray:
    """Offsets ``(n_series, n_levels)`` to add to point forecasts, per series blended with its group.

    ``residuals`` is ``(n_series, n_residuals)`` with NaN for missing; ``groups`` the demand class of
    each series; ``scale`` a positive spread per series (e.g. the RMS one-step naive change).
    """
    n_series = residuals.shape[0]
    n = (~np.isnan(residuals)).sum(axis=1)
    safe_scale = np.where(scale > 0, scale, np.nan)
    scaled = residuals / safe_scale[:, None]
    offsets = np.zeros((n_series, len(levels)))
    for position, level in enumerate(levels):
        own = conformal_rank_quantile(residuals, level)
        pooled = np.zeros(n_series)
        for group in np.unique(groups):
            members = groups == group
            values = scaled[members]
            values = values[~np.isnan(values)]
            if values.size:
                rank = min(values.size, int(np.ceil((values.size + 1) * level))) - 1
                pooled[members] = np.partition(values, rank)[rank]
        pooled_offset = np.nan_to_num(pooled * safe_scale)
        weight = n * (1 - level) / (n * (1 - level) + PRIOR_EXCEEDANCES)
        offsets[:, position] = np.where(
            n > 0, weight * np.nan_to_num(own) + (1 - weight) * pooled_offset, pooled_offset
        )
    return offsets


def quantile_forecasts(point: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(n_series, n_levels, horizon)`` quantiles: non-negative and non-decreasing in the level."""
    quantiles = np.maximum(point[:, None, :] + offsets[:, :, None], 0.0)
    return np.maximum.accumulate(quantiles, axis=1)
