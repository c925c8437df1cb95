"""Stock-out censoring: periods with no available stock tell us little about demand.

Sales in a stock-out period are a lower bound of demand, not demand. Learning them as zeros drags
every model down and sets the next stock-out up. A censored period is therefore replaced, before
fitting, by an estimate from the *past* non-censored periods of the same series (the mean of the
same seasonal phase over recent cycles, or failing that the recent mean), and it is left out of
every error and score. Only the past is used so that a back-test window never sees its future.
"""

from __future__ import annotations

import numpy as np

RECENT_PERIODS = 28
RECENT_CYCLES = 4


def _trailing_mean(values: np.ndarray, usable: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Mean of the usable cells among the ``window`` previous cells taken every ``stride`` columns."""
    n_series, n_periods = values.shape
    sums = np.zeros((n_series, n_periods))
    counts = np.zeros((n_series, n_periods))
    contribution = np.where(usable, values, 0.0)
    for step in range(1, window + 1):
        lag = step * stride
        if lag >= n_periods:
            break
        sums[:, lag:] += contribution[:, :-lag]
        counts[:, lag:] += usable[:, :-lag]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def impute_censored(values: np.ndarray, censored: np.ndarray | None, season_length: int) -> np.ndarray:
    """Replace censored cells by a causal estimate of demand; other cells are returned unchanged.

    The estimate is the mean of the same phase over the last four cycles when the season is at most
    a week long (daily data), else the mean of the last 28 non-censored periods. A sale recorded in
    a censored period is a floor of its demand, so the estimate never goes below it; with no past
    to learn from (a stock-out in the first period), the recorded sale is kept.
    """
    if censored is None or not censored.any():
        return values
    observed = ~np.isnan(values)
    usable = observed & ~censored
    recent = _trailing_mean(values, usable, RECENT_PERIODS, 1)
    estimate = recent
    if 1 < season_length <= 7:
        same_phase = _trailing_mean(values, usable, RECENT_CYCLES, season_length)
        estimate = np.where(np.isnan(same_phase), recent, same_phase)
    # A sale recorded in a censored period is still a floor for the demand.
    imputed = np.fmax(estimate, np.where(observed, values, np.nan))
    return np.where(censored & observed, imputed, values)
