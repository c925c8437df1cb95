"""Single-stage newsvendor / base-stock policy with backorders.

The stock covers D = demand over L+1 periods. Cost g(S) = h*E[(S-D)+] + p*E[(D-S)+]; the optimum is
the critical-ratio quantile of D at p/(p+h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from stockmesh.planning.exact._poisson import PoissonWindow


@dataclass(frozen=True, slots=True)
class NewsvendorResult:
    """Optimal base-stock level and its expected cost per period."""

    base_stock: float
    expected_cost: float
    critical_ratio: float


def _critical_z(holding_cost: float, stockout_cost: float) -> float:
    """z = Phi^-1(p/(p+h)), taken from the smaller tail.

    When h << p the ratio rounds to 1 (h = 1e-17, p = 1 gives exactly 1.0 and ndtri(1) = inf), so the
    quantile comes from the upper tail h/(p+h), which keeps its relative precision.
    """
    total = holding_cost + stockout_cost
    if stockout_cost <= holding_cost:
        return float(special.ndtri(stockout_cost / total))
    return -float(special.ndtri(holding_cost / total))


def solve_newsvendor_normal(
    mean: float, sd: float, holding_cost: float, stockout_cost: float, lead_time: int = 0
) -> NewsvendorResult:
    """Normal demand N(mean, sd^2) per period; D ~ N((L+1)*mean, (L+1)*sd^2).

    ``sd = 0`` is deterministic demand: the stock is the demand and costs nothing.
    """
    periods = lead_time + 1
    demand_mean = periods * mean
    demand_sd = math.sqrt(periods) * sd
    critical_ratio = stockout_cost / (stockout_cost + holding_cost)
    if demand_sd == 0.0:
        return NewsvendorResult(demand_mean, 0.0, critical_ratio)
    z = _critical_z(holding_cost, stockout_cost)
    base_stock = demand_mean + demand_sd * z
    density = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    expected_cost = (holding_cost + stockout_cost) * density * demand_sd
    return NewsvendorResult(base_stock, expected_cost, critical_ratio)


def solve_newsvendor_poisson(
    mean: float, holding_cost: float, stockout_cost: float, lead_time: int = 0
) -> NewsvendorResult:
    """Poisson demand per period; D ~ Poisson((L+1)*mean). Smallest integer S with F(S) >= p/(p+h).

    The test uses the smaller side of the distribution (P(D > S) <= h/(p+h) when p > h): when the
    ratio is within 1e-7 of 1, a cdf read as 1 - tail, or scipy's asymptotic pdtr at a mean of
    millions, cannot tell S from S + 9. ``PoissonWindow`` sums each side from its own end.
    """
    demand_mean = (lead_time + 1) * mean
    total = stockout_cost + holding_cost
    critical_ratio = stockout_cost / total
    window = PoissonWindow.of(demand_mean)
    if stockout_cost > holding_cost:
        index = int(np.argmax(window.tail <= holding_cost / total))
    else:
        index = int(np.argmax(window.cdf >= critical_ratio))
    base_stock = window.low + index
    leftover, shortage = window.leftover_and_shortage(np.array([base_stock]))
    expected_cost = holding_cost * float(leftover[0]) + stockout_cost * float(shortage[0])
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
