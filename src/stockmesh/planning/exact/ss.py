"""Periodic-review (s,S) policy, Poisson demand, zero lead time, backorders: Zheng & Federgruen (1991).

With G(y) the single-period cost and m(j) the renewal function of the demand,
c(s,S) = [K + sum_{j<S-s} m(j) G(S-j)] / M(S-s), M(n) = sum_{j<n} m(j).

The search is ZF's algorithm. Its two tests on s compare c(s,S) with G(s) and G(s+1), which differ by
O(1), so it picks the s that satisfies G(s+1) < c(s,S) <= G(s) even when c is flat in s to 1e-15
(policy-instances.md's tie rule). Every function is a finite sum: G in closed form, m(j) from the
pmf up to j, so nothing is truncated; the tables grow on demand, so large means and large K work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stockmesh.planning.exact._poisson import poisson_pmf, single_period_cost


@dataclass(frozen=True, slots=True)
class SSResult:
    """Optimal (s, S) and the long-run expected cost per period."""

    s: int
    S: int
    expected_cost: float


class _Tables:
    """G(y) on an integer window and the renewal function m(j), both extended when needed."""

    def __init__(self, mean: float, holding_cost: float, stockout_cost: float, fixed_cost: float) -> None:
        self.mean, self.holding_cost, self.stockout_cost, self.fixed_cost = (
            mean,
            holding_cost,
            stockout_cost,
            fixed_cost,
        )
        spread = int(np.ceil(10.0 * np.sqrt(mean) + 20.0))
        self.low = -spread
        self.high = int(np.ceil(mean)) + spread
        self.G = single_period_cost(np.arange(self.low, self.high + 1), mean, holding_cost, stockout_cost)
        self.renewal = np.zeros(0)
        self.renewal_cumsum = np.zeros(0)
        # The renewal table only needs S - s entries and grows on demand; sizing it to the G window
        # (about the mean) cost O(mean^2): 7 s at a mean of 10^4, 74 s at 10^5.
        self._extend_renewal(64)

    def cost_at(self, level: int) -> float:
        if level < self.low or level > self.high:
            new_low = min(self.low, level - (self.high - self.low))
            new_high = max(self.high, level + (self.high - self.low))
            self.low, self.high = new_low, new_high
            self.G = single_period_cost(
                np.arange(new_low, new_high + 1), self.mean, self.holding_cost, self.stockout_cost
            )
        return float(self.G[level - self.low])

    def _extend_renewal(self, length: int) -> None:
        pmf = poisson_pmf(self.mean, length)
        no_demand = -math.expm1(-self.mean)  # 1 - P(D=0), exact for tiny means too
        # P(D = l) underflows to 0 outside mean +- (40 sd + 40), so each sum runs over that window:
        # O(length * window) rather than O(length^2) (10 s for S - s = 31,000 at a mean of 1,000).
        spread = 40.0 * math.sqrt(self.mean) + 40.0
        first = max(1, int(self.mean - spread))
        last = int(math.ceil(self.mean + spread))
        renewal = np.empty(length)
        done = len(self.renewal)
        renewal[:done] = self.renewal
        for j in range(done, length):
            # m(j) = [sum_{l=1..j} P(D=l) m(j-l)] / (1 - P(D=0)); m(0) = 1 / (1 - P(D=0)).
            if j == 0:
                renewal[j] = 1.0 / no_demand
                continue
            top = min(j, last)
            if top < first:
                renewal[j] = 0.0
                continue
            renewal[j] = float(np.dot(pmf[first : top + 1], renewal[j - top : j - first + 1][::-1])) / no_demand
        self.renewal = renewal
        self.renewal_cumsum = np.cumsum(renewal)

    def policy_cost(self, s: int, S: int) -> float:
        """c(s, S) for s < S."""
        width = S - s
        if width > len(self.renewal):
            self._extend_renewal(2 * width)
        self.cost_at(s + 1)
        self.cost_at(S)
        start = S - self.low
        costs_down_from_S = self.G[start - width + 1 : start + 1][::-1]  # G(S), G(S-1), ..., G(s+1)
        weighted = float(np.dot(self.renewal[:width], costs_down_from_S))
        return (self.fixed_cost + weighted) / float(self.renewal_cumsum[width - 1])


def solve_ss_poisson(mean: float, holding_cost: float, stockout_cost: float, fixed_cost: float) -> SSResult:
    """Optimal (s,S) for Poisson(mean) demand per period (Zheng-Federgruen algorithm).

    Requires mean > 0, holding_cost > 0 and stockout_cost > 0 (otherwise G has no minimiser).
    """
    tables = _Tables(mean, holding_cost, stockout_cost, fixed_cost)
    # y*: the smallest minimiser of G (G is convex on the integers).
    y_star = tables.low + int(np.argmin(tables.G))
    while tables.cost_at(y_star + 1) < tables.cost_at(y_star):
        y_star += 1
    while tables.cost_at(y_star - 1) <= tables.cost_at(y_star):
        y_star -= 1

    # Step 0: the best s for S = y*: decrease s until c(s, y*) <= G(s).
    s = y_star - 1
    while tables.policy_cost(s, y_star) > tables.cost_at(s):
        s -= 1
    best_S = y_star
    best_cost = tables.policy_cost(s, best_S)

    # Step 1: S runs up while G(S) <= best cost; every improvement moves s up to its best value.
    S = best_S + 1
    while tables.cost_at(S) <= best_cost:
        if tables.policy_cost(s, S) < best_cost:
            best_S = S
            while tables.policy_cost(s, best_S) <= tables.cost_at(s + 1):
                s += 1
            best_cost = tables.policy_cost(s, best_S)
        S += 1
    return SSResult(s=s, S=best_S, expected_cost=best_cost)
