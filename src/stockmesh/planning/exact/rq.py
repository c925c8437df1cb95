"""Continuous-review (r,Q) policy with backorders.

Poisson demand (integers): g(r,Q) = (K*lambda + sum_{y=r+1}^{r+Q} G(y)) / Q. For each Q the best
window {r+1..r+Q} holds the Q smallest values of the convex G, so it grows greedily from argmin G;
g falls while the next value added is below the current average and rises after (Federgruen & Zheng
1992), so the first Q whose next value is >= g(Q) is optimal. Exact, no search grid.

Normal demand (reals): g(r,Q) = (K*lambda + integral_r^{r+Q} G(y) dy) / Q with G from the
first-order loss function and the integral from the second-order loss function, both closed form.
g is jointly convex; its optimum satisfies G(r) = G(r+Q) = g(r,Q). For each Q the first equation
has one root r(Q) (bracketed), and the envelope derivative dg/dQ = (G(r+Q) - g)/Q changes sign once,
so Q* is one bracketed root: a robust nested 1-D solve rather than a general 2-D optimiser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from stockmesh.planning.exact._poisson import poisson_upper_bound, single_period_cost


@dataclass(frozen=True, slots=True)
class RQResult:
    """Optimal reorder point r, order quantity Q and the expected cost per time unit."""

    r: float
    Q: float
    expected_cost: float


def solve_rq_poisson(
    rate: float, holding_cost: float, stockout_cost: float, fixed_cost: float, lead_time: float
) -> RQResult:
    """Integer (r, Q >= 1) for a Poisson process of ``rate`` units per time unit."""
    lead_time_mean = rate * lead_time
    spread = poisson_upper_bound(lead_time_mean) + 2
    low, high = -spread, spread
    levels = np.arange(low, high + 1)
    costs = single_period_cost(levels, lead_time_mean, holding_cost, stockout_cost)
    order_cost = fixed_cost * rate

    best = int(np.argmin(costs))
    left, right = best, best  # the window is levels[left..right]
    total = float(costs[best])
    while True:
        quantity = right - left + 1
        average = (order_cost + total) / quantity
        if left == 0 or right == len(costs) - 1:
            levels = np.arange(low - 2 * spread, high + 2 * spread + 1)
            extended = single_period_cost(levels, lead_time_mean, holding_cost, stockout_cost)
            left, right, low, high = (
                left + 2 * spread,
                right + 2 * spread,
                low - 2 * spread,
                high + 2 * spread,
            )
            costs, spread = extended, 3 * spread
            continue
        # Ties between the two neighbours go to the lower level (the smaller reorder point).
        take_left = costs[left - 1] <= costs[right + 1]
        next_cost = float(costs[left - 1] if take_left else costs[right + 1])
        if next_cost >= average:
            reorder_point = int(levels[left]) - 1
            return RQResult(r=reorder_point, Q=quantity, expected_cost=float(average))
        total += next_cost
        if take_left:
            left -= 1
        else:
            right += 1


def _normal_cost_terms(
    lead_time_mean: float, lead_time_sd: float, holding_cost: float, stockout_cost: float
) -> tuple:
    """G(y) and its antiderivative for D_L ~ N(mean, sd^2), vectorised over y."""
    sqrt_two = math.sqrt(2.0)

    def loss(y: float) -> float:  # E[(D - y)+]
        z = (y - lead_time_mean) / lead_time_sd
        tail = 0.5 * special.erfc(z / sqrt_two)
        return lead_time_sd * (math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) - z * tail)

    def second_loss(y: float) -> float:  # 0.5 * E[((D - y)+)^2] = integral_y^inf loss
        z = (y - lead_time_mean) / lead_time_sd
        tail = 0.5 * special.erfc(z / sqrt_two)
        density = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return lead_time_sd**2 * 0.5 * ((z * z + 1.0) * tail - z * density)

    def G(y: float) -> float:
        return holding_cost * (y - lead_time_mean) + (holding_cost + stockout_cost) * loss(y)

    def integral_G(lower: float, upper: float) -> float:
        linear = 0.5 * holding_cost * ((upper - lead_time_mean) ** 2 - (lower - lead_time_mean) ** 2)
        return linear + (holding_cost + stockout_cost) * (second_loss(lower) - second_loss(upper))

    return G, integral_G


def solve_rq_normal(
    mean_rate: float,
    sd_rate: float,
    holding_cost: float,
    stockout_cost: float,
    fixed_cost: float,
    lead_time: float,
) -> RQResult:
    """Real (r, Q) when demand over t time units is N(mean_rate*t, sd_rate^2*t).

    With no spread over the lead time (L = 0 or sd = 0) the lead-time demand is the constant
    mean_rate*L, and g is the EOQ with planned backorders: Q = sqrt(2 K lambda (h+p) / (h p)),
    r = mean_rate*L - Q h / (h+p), cost sqrt(2 K lambda h p / (h+p)).
    """
    lead_time_mean = mean_rate * lead_time
    lead_time_sd = sd_rate * math.sqrt(lead_time)
    if lead_time_sd == 0.0:
        order_cost = fixed_cost * mean_rate
        if order_cost == 0.0:
            return RQResult(r=lead_time_mean, Q=0.0, expected_cost=0.0)
        rate_sum = holding_cost + stockout_cost
        quantity = math.sqrt(2.0 * order_cost * rate_sum / (holding_cost * stockout_cost))
        return RQResult(
            r=lead_time_mean - quantity * holding_cost / rate_sum,
            Q=quantity,
            expected_cost=math.sqrt(2.0 * order_cost * holding_cost * stockout_cost / rate_sum),
        )
    G, integral_G = _normal_cost_terms(lead_time_mean, lead_time_sd, holding_cost, stockout_cost)
    order_cost = fixed_cost * mean_rate
    critical_ratio = stockout_cost / (stockout_cost + holding_cost)
    y_star = lead_time_mean + lead_time_sd * float(special.ndtri(critical_ratio))
    if order_cost == 0.0:
        return RQResult(r=y_star, Q=0.0, expected_cost=float(G(y_star)))
    scale = lead_time_sd
    xtol = 1e-12 * max(1.0, abs(y_star), scale)

    def reorder_point_for(quantity: float) -> float:
        # G(r+Q) - G(r) is increasing in r, <= 0 at r = y*-Q and >= 0 at r = y*; when rounding hides
        # the sign at an end (tiny Q), that end is the root to machine precision.
        def difference(r: float) -> float:
            return G(r + quantity) - G(r)

        low_end, high_end = y_star - quantity, y_star
        if difference(low_end) >= 0.0:
            return low_end
        if difference(high_end) <= 0.0:
            return high_end
        return optimize.brentq(difference, low_end, high_end, xtol=xtol)

    def cost(r: float, quantity: float) -> float:
        return (order_cost + integral_G(r, r + quantity)) / quantity

    def slope_sign(quantity: float) -> float:
        r = reorder_point_for(quantity)
        return G(r + quantity) - cost(r, quantity)

    # At small Q the order cost K*lambda/Q dominates, so the slope is negative there.
    lower = min(1e-3 * scale, 0.1 * order_cost / (abs(G(y_star)) + holding_cost * scale + 1e-300))
    upper = math.sqrt(2.0 * order_cost / holding_cost) + scale if holding_cost > 0 else scale
    while slope_sign(upper) < 0.0:
        upper *= 2.0
    while slope_sign(lower) > 0.0 and lower > 1e-300:
        lower *= 1e-3
    quantity = optimize.brentq(slope_sign, lower, upper, xtol=1e-12 * upper, rtol=1e-14)
    r = reorder_point_for(quantity)
    return RQResult(r=float(r), Q=float(quantity), expected_cost=float(cost(r, quantity)))
