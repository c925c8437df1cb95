"""Synthetic daily retail demand, for tests, benchmarks and the digital twin.

Each series has a base rate (a mix of slow movers, many of them intermittent, and fast movers), a
weekly profile, a slowly drifting level, promotion runs that multiply demand, and negative-binomial
noise. Optional stock-outs hide demand: in a stock-out period the recorded sales are zero and the
period is flagged as censored. Everything is drawn from one seeded generator, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticDemand:
    """True mean demand, recorded sales, and the promotion and stock-out flags ``(n_series, n_days)``."""

    mean: np.ndarray
    sales: np.ndarray
    promotions: np.ndarray
    censored: np.ndarray
    uplift: np.ndarray


def daily_retail_demand(
    n_series: int,
    n_days: int,
    *,
    seed: int = 0,
    promotion_share: float = 0.03,
    stockout_share: float = 0.0,
    dtype: type = np.float64,
) -> SyntheticDemand:
    """Draw ``n_series`` daily series of ``n_days`` days (see the module docstring)."""
    rng = np.random.default_rng(seed)
    slow = rng.random(n_series) < 0.5
    base = np.where(
        slow, rng.uniform(0.05, 1.5, n_series), np.exp(rng.uniform(np.log(2), np.log(80), n_series))
    )
    amplitude = rng.uniform(0.0, 0.6, n_series)
    phase = rng.integers(0, 7, n_series)
    weekday = (np.arange(n_days)[None, :] + phase[:, None]) % 7
    # Busy weekends, quiet early week: a typical store pattern, scaled per series.
    shape = np.array([-0.5, -0.4, -0.2, 0.0, 0.4, 0.9, -0.2])
    weekly = 1.0 + amplitude[:, None] * shape[weekday]
    drift = np.cumsum(rng.normal(0.0, 0.01, (n_series, n_days)), axis=1)
    drift -= drift.mean(axis=1, keepdims=True)
    mean = base[:, None] * weekly * np.exp(drift)

    starts = rng.random((n_series, n_days)) < promotion_share / 4
    run = rng.integers(2, 6, n_series)
    promotions = np.zeros((n_series, n_days), dtype=bool)
    for offset in range(int(run.max())):
        shifted = np.zeros_like(starts)
        shifted[:, offset:] = starts[:, : n_days - offset]
        promotions |= shifted & (offset < run)[:, None]
    uplift = rng.uniform(1.5, 3.0, n_series)
    mean = np.where(promotions, mean * uplift[:, None], mean)

    dispersion = rng.uniform(1.0, 10.0, n_series)[:, None]
    sales = rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(dtype)
    censored = np.zeros((n_series, n_days), dtype=bool)
    if stockout_share > 0:
        outage_starts = rng.random((n_series, n_days)) < stockout_share / 5
        for offset in range(5):
            censored[:, offset:] |= outage_starts[:, : n_days - offset]
        sales = np.where(censored, 0, sales).astype(dtype)
    return SyntheticDemand(mean=mean, sales=sales, promotions=promotions, censored=censored, uplift=uplift)
