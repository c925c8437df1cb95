"""Exact solvers at the edges of the instance schema: huge means, extreme cost ratios, zero lead times.

Each reference is computed here by a different route than the solver (direct summation of the pmf,
closed forms, a scalar minimiser), never copied from a data file.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from stockmesh.planning.exact import (
    solve_newsvendor_normal,
    solve_newsvendor_poisson,
    solve_rq_normal,
    solve_serial_normal,
    solve_ss_poisson,
)


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


def _two_stage_normal_reference(
    holding: tuple[float, float], leads: tuple[float, float], stockout_cost: float, mean: float, sd: float
) -> tuple[float, float]:
    """S_1 and S_2 of a two-stage Clark-Scarf system from the derivative of the recursion, by quad.

    g_1'(y) = h_1 - (p + H) P(D_1 > y) in closed form; g_2'(y) = h_2 + E[g_1'(y - D_2); y - D_2 < S_1],
    whose root is S_2 (lower_g_1 is flat above S_1, so its derivative is 0 there).
    """
    backorder_rate = stockout_cost + sum(holding)
    mean_1, sd_1 = mean * leads[0], sd * math.sqrt(leads[0])
    mean_2, sd_2 = mean * leads[1], sd * math.sqrt(leads[1])
    level_1 = mean_1 + sd_1 * stats.norm.isf(holding[0] / backorder_rate)

    def slope_1(y: float) -> float:
        return holding[0] - backorder_rate * stats.norm.sf((y - mean_1) / sd_1)

    def slope_2(y: float) -> float:
        low = max(y - level_1, mean_2 - 15 * sd_2)
        part = integrate.quad(
            lambda x: slope_1(y - x) * stats.norm.pdf(x, mean_2, sd_2), low, mean_2 + 15 * sd_2, epsabs=1e-13
        )[0]
        return holding[1] + part

    level_2 = optimize.brentq(slope_2, level_1, level_1 + mean_2 + 15 * sd_2, xtol=1e-9)
    return level_1, level_2


@pytest.mark.parametrize(
    ("mean", "sd", "holding", "leads"),
    [
        (1e6, 1.0, (1.0, 0.5), (1.0, 2.0)),  # one grid over both stages would need 24 million points
        (2813.486, 42.2023, (1.49, 0.0224), (0.5, 0.5)),  # a flat g_2: small upstream holding cost
    ],
)
def test_serial_normal_levels_hold_at_large_means(
    mean: float, sd: float, holding: tuple[float, float], leads: tuple[float, float]
) -> None:
    result = solve_serial_normal(list(holding), list(leads), 50.0 if mean > 1e5 else 0.8621, mean, sd)
    want_1, want_2 = _two_stage_normal_reference(holding, leads, 50.0 if mean > 1e5 else 0.8621, mean, sd)
    assert result.echelon_base_stock[0] == pytest.approx(want_1, abs=0.01 * sd)
    assert result.echelon_base_stock[1] == pytest.approx(want_2, abs=0.01 * sd)


def test_serial_normal_stage_without_lead_time_at_the_customer_end() -> None:
    # Stage 1 ships instantly: D_1 = 0, so S_1 = 0 exactly (the minimum of g_1 sits on a kink), and
    # stage 2 is a newsvendor whose shortage rate is p + H - h_1.
    holding, stockout_cost, mean, sd = [0.152, 0.037], 9.2929, 5.478, 2.624
    result = solve_serial_normal(holding, [0.0, 1.0], stockout_cost, mean, sd)
    rate = stockout_cost + holding[1]
    z = stats.norm.isf(holding[1] / rate)
    assert result.echelon_base_stock[0] == 0.0
    assert result.echelon_base_stock[1] == pytest.approx(mean + sd * z, abs=1e-3)
    assert result.expected_cost == pytest.approx(rate * sd * stats.norm.pdf(z), rel=1e-5)


@pytest.mark.parametrize(("lead_time", "sd"), [(0.0, 7.37), (0.0, 150.0)])
def test_rq_normal_without_lead_time_is_the_eoq_with_planned_backorders(lead_time: float, sd: float) -> None:
    rate, holding_cost, stockout_cost, fixed_cost = 263.24, 2.4326, 19.09, 68.3
    result = solve_rq_normal(rate, sd, holding_cost, stockout_cost, fixed_cost, lead_time)

    def cost(point: np.ndarray) -> float:  # G(y) = h y+ + p y- integrated by hand over [r, r+Q]
        r, quantity = float(point[0]), float(point[1])
        top = r + quantity
        held = 0.5 * holding_cost * (max(top, 0.0) ** 2 - max(r, 0.0) ** 2)
        short = 0.5 * stockout_cost * (max(-r, 0.0) ** 2 - max(-top, 0.0) ** 2)
        return (fixed_cost * rate + held + short) / quantity

    best = optimize.minimize(
        cost, x0=np.array([-5.0, 50.0]), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    reorder_point, quantity = result.r, result.Q
    assert reorder_point == pytest.approx(best.x[0], abs=1e-4)
    assert quantity == pytest.approx(best.x[1], abs=1e-4)
    assert result.expected_cost == pytest.approx(best.fun, rel=1e-9)


@pytest.mark.parametrize(("mean", "fixed_cost"), [(10_000.0, 64.0), (0.05, 3.0), (250.0, 400.0)])
def test_ss_optimum_holds_against_its_neighbours(mean: float, fixed_cost: float) -> None:
    # The renewal sums run over the window where the pmf is not 0; the optimum must still beat every
    # neighbouring (s, S) priced by the plain formula, and satisfy the Zheng-Federgruen test on s.
    from tests.unit.planning.exact.brute import poisson_G, ss_cost

    result = solve_ss_poisson(mean, 1.0, 9.0, fixed_cost)
    best = ss_cost(result.s, result.S, mean, 1.0, 9.0, fixed_cost)
    assert result.expected_cost == pytest.approx(best, rel=1e-9)
    for s in range(result.s - 2, result.s + 3):
        for S in range(max(s + 1, result.S - 2), result.S + 3):
            assert ss_cost(s, S, mean, 1.0, 9.0, fixed_cost) >= best * (1 - 1e-12)
    assert poisson_G(result.s + 1, mean, 1.0, 9.0) < best <= poisson_G(result.s, mean, 1.0, 9.0) * (1 + 1e-12)


def test_serial_normal_levels_are_within_a_hundredth_of_a_unit_at_a_large_sd() -> None:
    # Levels are judged in absolute units (level_abs), so an sd of 45,000 per stage asks for a
    # relative precision of 1e-7: 400 grid points per sd left S_2 0.05 units off, on a flat g_2.
    holding, leads, stockout_cost, mean, sd = (0.795, 0.0131), (2.0, 0.25), 16.0952, 56000.646, 32032.3695
    result = solve_serial_normal(list(holding), list(leads), stockout_cost, mean, sd)
    want = _two_stage_normal_reference(holding, leads, stockout_cost, mean, sd)
    assert result.echelon_base_stock[0] == pytest.approx(want[0], abs=0.02)
    assert result.echelon_base_stock[1] == pytest.approx(want[1], abs=0.02)
