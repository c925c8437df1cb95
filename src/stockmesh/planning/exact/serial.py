"""Clark-Scarf serial system under echelon base-stock policies (Chen-Zheng recursion).

Stage 1 faces the customers; stage N is fed by an unlimited source. With H = sum_j h_j:
    lower_g_0(x) = (p + H) * max(-x, 0)
    hat_g_j(x)   = h_j * x + lower_g_{j-1}(x)
    g_j(y)       = E[hat_g_j(y - D_j)],  S_j = argmin g_j,  lower_g_j(x) = g_j(min(S_j, x)).
The optimal cost is g_N(S_N).

Two facts keep the grids small and the answers exact up to floating point:
* lower_g_j is constant above S_j (it is g_j(S_j) there);
* far below the demand's support every g_j is linear with slope sum_{i<=j} h_i - (p + H), so values
  below the grid are extrapolated exactly (for Poisson demand, g_j is exactly linear for y <= 0).

Poisson demand works on the integers with the pmf truncated where its tail is below 1e-30 (the bound
grows with the mean). Normal demand works on a fine uniform grid: D_j's density is binned on the
grid (error O(step^2)), expectations are discrete convolutions (FFT for long grids), and each S_j is
refined by a parabola through the three grid points around the grid minimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal, special

from stockmesh.planning.exact._poisson import poisson_pmf, poisson_upper_bound


@dataclass(frozen=True, slots=True)
class SerialResult:
    """Echelon base-stock levels, stage 1 first, and the optimal expected cost per period."""

    echelon_base_stock: tuple[float, ...]
    expected_cost: float


def _convolve(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' convolution; FFT when the direct product would be large."""
    if len(values) * len(kernel) > 2_000_000:
        return signal.fftconvolve(values, kernel, mode="valid")
    return np.convolve(values, kernel, mode="valid")


def solve_serial_poisson(
    echelon_holding_costs: Sequence[float],
    lead_times: Sequence[float],
    stockout_cost: float,
    mean: float,
) -> SerialResult:
    """Integer echelon base-stock levels for Poisson(mean) demand per time unit."""
    holding = [float(h) for h in echelon_holding_costs]
    total_holding = sum(holding)
    backorder_rate = stockout_cost + total_holding
    stage_means = [mean * float(lead) for lead in lead_times]
    high = poisson_upper_bound(sum(stage_means)) + 2
    grid = np.arange(0, high + 1, dtype=float)  # y = 0..high

    # lower_g_0 on the grid: zero for x >= 0; below 0 it is linear with slope -(p + H).
    lower_values = np.zeros_like(grid)
    lower_slope = -backorder_rate
    levels: list[float] = []
    optimal_cost = 0.0
    for holding_cost, stage_mean in zip(holding, stage_means, strict=True):
        support = poisson_upper_bound(stage_mean)
        pmf = poisson_pmf(stage_mean, support)
        # lower_g_{j-1} on x = -support..high: linear extension below 0 (exact for Poisson demand).
        below = lower_values[0] + lower_slope * np.arange(-support, 0, dtype=float)
        extended = np.concatenate([below, lower_values])
        expected_lower = _convolve(extended, pmf)  # E[lower_g(y - D)], y = 0..high
        stage_cost = holding_cost * (grid - stage_mean) + expected_lower
        best = int(np.argmin(stage_cost))  # ties: the smallest level
        levels.append(float(best))
        optimal_cost = float(stage_cost[best])
        lower_values = np.where(grid >= best, optimal_cost, stage_cost)
        lower_slope += holding_cost
    return SerialResult(echelon_base_stock=tuple(levels), expected_cost=optimal_cost)


def _parabola_vertex(grid: np.ndarray, values: np.ndarray, index: int) -> tuple[float, float]:
    """Minimum of the parabola through the grid minimum and its neighbours."""
    if index == 0 or index == len(values) - 1:
        return float(grid[index]), float(values[index])
    left, middle, right = values[index - 1], values[index], values[index + 1]
    curvature = left - 2.0 * middle + right
    step = grid[1] - grid[0]
    if curvature <= 0.0:
        return float(grid[index]), float(middle)
    offset = 0.5 * (left - right) / curvature
    return float(grid[index] + offset * step), float(middle - 0.25 * (left - right) * offset)


def solve_serial_normal(
    echelon_holding_costs: Sequence[float],
    lead_times: Sequence[float],
    stockout_cost: float,
    mean: float,
    sd: float,
    points_per_sd: int = 1600,
) -> SerialResult:
    """Real echelon base-stock levels for N(mean, sd^2) demand per time unit (sd = 0: deterministic)."""
    holding = [float(h) for h in echelon_holding_costs]
    total_holding = sum(holding)
    backorder_rate = stockout_cost + total_holding
    stage_means = [mean * float(lead) for lead in lead_times]
    stage_sds = [sd * math.sqrt(float(lead)) for lead in lead_times]
    cumulative_means = np.cumsum(stage_means)
    cumulative_sds = np.sqrt(np.cumsum(np.square(stage_sds)))
    positive_sds = [s for s in stage_sds if s > 0.0]
    if not positive_sds:  # deterministic lead-time demand: stock exactly the pipeline, at no cost
        return SerialResult(echelon_base_stock=tuple(float(m) for m in cumulative_means), expected_cost=0.0)

    # g_j bends only within ~z_max cumulative sds of the cumulative mean of stages 1..j; below that it
    # is linear and above S_j lower_g_j is flat, so each stage gets its own window there. (One grid
    # spanning every stage's window grows with the mean: at a mean of 10^6 it hit the point cap
    # and coarsened the step to 0.75 sd, and took seconds.)
    smallest_positive_h = min((h for h in holding if h > 0.0), default=backorder_rate)
    z_max = max(8.0, float(-special.ndtri(smallest_positive_h / backorder_rate))) + 4.0
    base_step = min(positive_sds) / points_per_sd
    max_points = 4_000_000

    def stage_grid(stage: int) -> np.ndarray:
        low = float(cumulative_means[stage] - z_max * cumulative_sds[stage]) - 1.0
        high = float(cumulative_means[stage] + z_max * cumulative_sds[stage]) + 1.0
        step = max(base_step, (high - low) / max_points)
        return np.arange(low, high + step, step)

    levels: list[float] = []
    optimal_cost = 0.0
    lower_values: np.ndarray | None = None  # lower_g_{j-1} on the grid (None: stage 0, analytic)
    lower_slope = -backorder_rate
    lower_top = 0.0  # lower_g_{j-1} is constant (= its minimum) above this level
    # While no stage so far has a lead time, lower_g_{j-1}(x) = analytic_rate * max(-x, 0) exactly.
    analytic_rate = backorder_rate
    previous_grid = np.zeros(0)
    for stage, (holding_cost, stage_mean, stage_sd) in enumerate(
        zip(holding, stage_means, stage_sds, strict=True)
    ):
        if lower_values is None and stage_sd == 0.0:
            # No uncertainty yet: g_j(y) = h_j*y + analytic_rate*max(-y, 0) has its minimum, 0, at the
            # kink y = 0; a parabola through grid points would miss a kink by up to half a step.
            levels.append(0.0)
            optimal_cost = 0.0
            analytic_rate -= holding_cost
            lower_slope += holding_cost
            continue
        grid = stage_grid(stage)
        step = float(grid[1] - grid[0])
        if lower_values is None:
            # The first stage with a lead time, in closed form: h_j (y - mu) + rate E[(D_j - y)+].
            z = (grid - stage_mean) / stage_sd
            loss = stage_sd * (
                np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) - z * 0.5 * special.erfc(z / math.sqrt(2))
            )
            stage_cost = holding_cost * (grid - stage_mean) + analytic_rate * loss
        else:
            half_width = int(math.ceil(12.0 * stage_sd / step)) if stage_sd > 0.0 else 0
            if stage_sd > 0.0:
                edges = (np.arange(-half_width, half_width + 2) - 0.5) * step / stage_sd
                weights = np.diff(special.ndtr(edges))
                weights /= weights.sum()
            else:
                weights = np.ones(1)
            # f(x) = lower_g_{j-1}(x - stage_mean) on this stage's grid extended by half_width each
            # side, read from the previous stage's grid: linear below it, flat above S_{j-1}.
            extended_grid = grid[0] + step * np.arange(-half_width, len(grid) + half_width)
            shifted = extended_grid - stage_mean
            values = np.interp(shifted, previous_grid, lower_values)
            below = shifted < previous_grid[0]
            values[below] = lower_values[0] + lower_slope * (shifted[below] - previous_grid[0])
            values[shifted >= lower_top] = optimal_cost
            expected_lower = _convolve(values, weights[::-1])[: len(grid)]
            stage_cost = holding_cost * (grid - stage_mean) + expected_lower
        best = int(np.argmin(stage_cost))
        level, optimal_cost = _parabola_vertex(grid, stage_cost, best)
        levels.append(level)
        lower_values = np.where(grid >= level, optimal_cost, stage_cost)
        previous_grid = grid
        lower_top = level
        lower_slope += holding_cost
    return SerialResult(echelon_base_stock=tuple(levels), expected_cost=optimal_cost)
