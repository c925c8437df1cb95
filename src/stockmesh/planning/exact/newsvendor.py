"""Single-stage newsvendor / base-stock policy with backorders.

The stock covers D = demand over L+1 periods. Cost g(S) = h*E[(S-D)+] + p*E[(D-S)+]; the optimum is
the critical-ratio quantile of D at p/(p+h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True, slots=True)
class NewsvendorResult:
    """Optimal base-stock level and its expected cost per period."""

    base_stock: float
    expected_cost: float
    critical_ratio: float


def solve_newsvendor_normal(
    mean: float, sd: float, holding_cost: float, stockout_cost: float, lead_time: int = 0
) -> NewsvendorResult:
    """Normal demand N(mean, sd^2) per period; D ~ N((L+1)*mean, (L+1)*sd^2). ``sd`` must be > 0."""
    periods = lead_time + 1
    demand_mean = periods * mean
    demand_sd = math.sqrt(periods) * sd
    critical_ratio = stockout_cost / (stockout_cost + holding_cost)
    z = float(special.ndtri(critical_ratio))
    base_stock = demand_mean + demand_sd * z
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    expected_cost = (holding_cost + stockout_cost) * density * demand_sd
    return NewsvendorResult(base_stock, expected_cost, critical_ratio)


def solve_newsvendor_poisson(
    mean: float, holding_cost: float, stockout_cost: float, lead_time: int = 0
) -> NewsvendorResult:
    """Poisson demand per period; D ~ Poisson((L+1)*mean). Smallest integer S with F(S) >= p/(p+h)."""
    demand_mean = (lead_time + 1) * mean
    critical_ratio = stockout_cost / (stockout_cost + holding_cost)
    # Start from the normal approximation; F(k) once from the regularised incomplete gamma function
    # (exact, no truncated sum), then walk with the pmf recurrence P(k+1) = P(k) * mean / (k+1).
    z = float(special.ndtri(critical_ratio))
    base_stock = max(0, math.ceil(demand_mean + z * math.sqrt(demand_mean) - 0.5))
    cdf = float(special.pdtr(base_stock, demand_mean))
    pmf = math.exp(base_stock * math.log(demand_mean) - demand_mean - math.lgamma(base_stock + 1.0))
    while cdf < critical_ratio:
        base_stock += 1
        pmf *= demand_mean / base_stock
        cdf += pmf
    while base_stock > 0 and cdf - pmf >= critical_ratio:
        cdf -= pmf
        pmf *= base_stock / demand_mean
        base_stock -= 1
    leftover = max(base_stock * cdf - demand_mean * (cdf - pmf), 0.0)
    shortage = demand_mean - base_stock + leftover
    expected_cost = holding_cost * leftover + stockout_cost * shortage
    return NewsvendorResult(float(base_stock), expected_cost, critical_ratio)


def solve_newsvendor_discrete(
    values: np.ndarray, probabilities: np.ndarray, holding_cost: float, stockout_cost: float
) -> NewsvendorResult:
    """Discrete demand D taking ``values`` with ``probabilities`` (D is already the covered demand).

    The optimum is the smallest support value with F(S) >= p/(p+h); the cost is evaluated exactly.
    """
    values = np.asarray(values, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    order = np.argsort(values, kind="stable")
    values, probabilities = values[order], probabilities[order] / probabilities.sum()
    critical_ratio = stockout_cost / (stockout_cost + holding_cost)
    cdf = np.cumsum(probabilities)
    index = int(np.searchsorted(cdf, critical_ratio - 1e-12, side="left"))
    index = min(index, len(values) - 1)
    base_stock = float(values[index])
    leftover = float(np.dot(probabilities, np.maximum(base_stock - values, 0.0)))
    shortage = float(np.dot(probabilities, np.maximum(values - base_stock, 0.0)))
    expected_cost = holding_cost * leftover + stockout_cost * shortage
    return NewsvendorResult(base_stock, expected_cost, critical_ratio)
