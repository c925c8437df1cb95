"""Exact solvers at the edges of the instance schema: huge means, extreme cost ratios, zero lead times.

Each reference is computed here by a different route than the solver (direct summation of the pmf,
closed forms, a scalar minimiser), never copied from a data file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from stockmesh.planning.exact import solve_newsvendor_normal, solve_newsvendor_poisson


def _poisson_window(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """The pmf on mean +- 40 sd, from log-gamma, summed by nobody but the caller."""
    spread = 40.0 * math.sqrt(mean) + 40.0
    support = np.arange(max(0, int(mean - spread)), int(mean + spread) + 1)
    pmf = np.exp(support * math.log(mean) - mean - special.gammaln(support + 1.0))
    return support, pmf


@pytest.mark.parametrize(
    ("mean", "lead_time", "holding_cost", "stockout_cost"),
    [
        (610_967.426, 12, 1e-4, 1e3),  # ratio 1 - 1e-7 at a covered mean of 7.9 million
        (2_000_000.0, 0, 1e-3, 5e3),
        (50.0, 4, 1e-9, 1.0),
        (3.0, 0, 1e3, 1e-3),  # ratio 1e-6: the optimum sits in the lower tail
    ],
)
def test_poisson_newsvendor_takes_the_quantile_from_the_small_tail(
    mean: float, lead_time: int, holding_cost: float, stockout_cost: float
) -> None:
    covered = mean * (lead_time + 1)
    support, pmf = _poisson_window(covered)
    upper_tail = np.cumsum(pmf[::-1])[::-1] - pmf  # P(D > d), summed from the top
    lower_cdf = np.cumsum(pmf)  # P(D <= d), summed from the bottom
    ratio = stockout_cost / (stockout_cost + holding_cost)
    if ratio > 0.5:
        covers = upper_tail <= holding_cost / (stockout_cost + holding_cost)
    else:
        covers = lower_cdf >= ratio
    want = int(support[np.argmax(covers)])

    result = solve_newsvendor_poisson(mean, holding_cost, stockout_cost, lead_time)

    assert int(result.base_stock) == want
    direct_cost = float(
        np.dot(pmf, holding_cost * np.maximum(want - support, 0) + stockout_cost * np.maximum(support - want, 0))
    )
    assert result.expected_cost == pytest.approx(direct_cost, rel=1e-6)


@pytest.mark.parametrize(("holding_cost", "stockout_cost"), [(1e-17, 1.0), (1e-12, 3.0), (1.0, 1e-17)])
def test_normal_newsvendor_survives_a_ratio_that_rounds_to_one(holding_cost: float, stockout_cost: float) -> None:
    result = solve_newsvendor_normal(100.0, 10.0, holding_cost, stockout_cost, lead_time=3)
    sd = 10.0 * 2.0
    total = holding_cost + stockout_cost
    # each quantile from its own small tail, never as 1 - tail
    z = stats.norm.isf(holding_cost / total) if stockout_cost > holding_cost else stats.norm.ppf(stockout_cost / total)
    assert result.base_stock == pytest.approx(400.0 + sd * z, abs=1e-9)
    assert result.expected_cost == pytest.approx((holding_cost + stockout_cost) * sd * stats.norm.pdf(z), rel=1e-9)


def test_normal_newsvendor_with_no_spread_stocks_the_mean_at_no_cost() -> None:
    result = solve_newsvendor_normal(40.0, 0.0, 0.5, 2.0, lead_time=2)
    assert (result.base_stock, result.expected_cost) == (120.0, 0.0)
