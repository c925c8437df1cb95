"""Promotions and events: a multiplicative uplift learned per series from its own history.

``uplift = mean demand in flagged periods / mean demand in other periods``, computed on the
history (non-censored cells only) and shrunk towards the uplift pooled over all series, with a
weight that grows with the number of flagged periods the series has seen
(``n_flagged / (n_flagged + PRIOR_PERIODS)``, on the log scale). History is divided by the uplift
in flagged periods before the models see it, and forecasts are multiplied by it in future flagged
periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_PERIODS = 4.0
UPLIFT_BOUNDS = (0.2, 20.0)


@dataclass(frozen=True)
class Uplift:
    """Per series: the uplift factor, and how many flagged periods it was learned from."""

    factor: np.ndarray
    flagged_periods: np.ndarray
    pooled: float


def learn_uplift(
    values: np.ndarray, promotions: np.ndarray, censored: np.ndarray | None = None, until: int | None = None
) -> Uplift:
    """Learn each series' uplift from the columns before ``until`` (all columns by default)."""
    end = values.shape[1] if until is None else until
    history = values[:, :end]
    usable = ~np.isnan(history)
    if censored is not None:
        usable &= ~censored[:, :end]
    flagged = promotions[:, :end] & usable
    plain = ~promotions[:, :end] & usable
    data = np.where(usable, history, 0.0)
    flagged_sum, flagged_count = (data * flagged).sum(axis=1), flagged.sum(axis=1)
    plain_sum, plain_count = (data * plain).sum(axis=1), plain.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        flagged_mean = flagged_sum / flagged_count
        plain_mean = plain_sum / plain_count
        ratio = flagged_mean / plain_mean
        pooled_plain = plain_sum.sum() / max(plain_count.sum(), 1)
        pooled_flagged = flagged_sum.sum() / max(flagged_count.sum(), 1)
    pooled = float(pooled_flagged / pooled_plain) if pooled_plain > 0 and flagged_count.sum() > 0 else 1.0
    pooled = float(np.clip(pooled, *UPLIFT_BOUNDS))
    known = np.isfinite(ratio) & (ratio > 0)
    log_ratio = np.where(known, np.log(np.where(known, ratio, 1.0)), np.log(pooled))
    weight = np.where(known, flagged_count / (flagged_count + PRIOR_PERIODS), 0.0)
    factor = np.exp(weight * log_ratio + (1 - weight) * np.log(pooled))
    return Uplift(factor=np.clip(factor, *UPLIFT_BOUNDS), flagged_periods=flagged_count, pooled=pooled)


def remove_uplift(values: np.ndarray, promotions: np.ndarray, uplift: Uplift) -> np.ndarray:
    """The history as it would have been without promotions (flagged cells divided by the uplift)."""
    return np.where(promotions, values / uplift.factor[:, None], values)
