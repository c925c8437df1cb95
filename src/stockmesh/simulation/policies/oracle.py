"""The oracle baseline: (s, S) from the twin's TRUE demand and lead-time distributions.

It knows the generator (daily means and variances, including promotions, seasonality and shocks;
the lead-time pmf of every lane and the outage factor in force) but not the realised path.
Recomputed daily:

    L       = lead time of an order placed today (random, true pmf, times the outage factor)
    D_L     = demand over the next L days; mean and variance of the mixture over L
    Q       = max(EOQ, mu), with mu the mean daily demand over the protection period
    s       = the CR-quantile of D_L (negative binomial by moments), CR = p mu / (p mu + h Q)
    S       = s + Q

A DC's demand is the sum of its stores' demand distributions (independent stores).
"""

from __future__ import annotations

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.adapters.simulated.world import Observation
from stockmesh.simulation.policies.base import Decision, reorder_to_target
from stockmesh.simulation.policies.numerics import (
    economic_order_quantity,
    lost_sales_critical_ratio,
    mixture_moments,
    negative_binomial_quantile,
)


def echelon_demand(spec: WorldSpec) -> tuple[np.ndarray, np.ndarray]:
    """True daily mean and variance faced by every row: a DC's is the sum over the sites it supplies."""
    mean = spec.demand_mean.astype(np.float64)
    variance = spec.demand_variance.astype(np.float64)
    for echelon in range(1, spec.n_echelons):
        children = np.flatnonzero((spec.row_echelon == echelon - 1) & (spec.row_parent >= 0))
        for matrix in (mean, variance):
            totals = np.zeros_like(matrix)
            np.add.at(totals.T, spec.row_parent[children], matrix[:, children].T)
            matrix += totals
    return mean, variance


class Oracle:
    """Daily (s, S) from the true distributions; see the module docstring."""

    name = "oracle"

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.mean, self.variance = echelon_demand(spec)
        horizon = spec.lead_time_pmf.shape[1] * int(np.ceil(spec.lead_time_factor.max(initial=1))) + 1
        self.horizon = horizon
        # pad the end of the run with its last day, so periods that run past it stay defined
        self.mean = np.vstack([self.mean, np.repeat(self.mean[-1:], horizon, axis=0)])
        self.variance = np.vstack([self.variance, np.repeat(self.variance[-1:], horizon, axis=0)])

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        spec, day = self.spec, observation.day
        ahead = slice(day + 1, day + 1 + self.horizon)
        zero = np.zeros((1, rows.size))
        cumulative_mean = np.vstack([zero, np.cumsum(self.mean[ahead, rows], axis=0)])
        cumulative_variance = np.vstack([zero, np.cumsum(self.variance[ahead, rows], axis=0)])
        base_pmf = spec.lead_time_pmf[spec.row_lane[rows]]
        supplier = spec.row_supplier[rows]
        factor = np.where(supplier >= 0, spec.lead_time_factor[day, np.maximum(supplier, 0)], 1.0)
        pmf = _stretch(base_pmf, factor, cumulative_mean.shape[0])
        lead_demand_mean, lead_demand_variance = mixture_moments(cumulative_mean, cumulative_variance, pmf)
        lead_time_mean = pmf @ np.arange(pmf.shape[1])
        daily = lead_demand_mean / np.maximum(lead_time_mean, 1)
        eoq = economic_order_quantity(spec.order_cost[rows], daily, spec.holding_cost_per_day[rows])
        quantity = np.maximum(eoq, daily)
        ratio = lost_sales_critical_ratio(spec.lost_sale_penalty[rows], daily, spec.holding_cost_per_day[rows],
                                          quantity)
        reorder_point = negative_binomial_quantile(lead_demand_mean, lead_demand_variance, ratio)
        order_up_to = reorder_point + np.ceil(quantity)
        return reorder_to_target(
            self.name, rows, observation.inventory_position[rows], reorder_point, order_up_to,
            "s = NB quantile of true lead-time demand at CR = p mu / (p mu + h Q); S = s + max(EOQ, mu)",
            inputs={"lead_time_demand_mean": lead_demand_mean, "lead_time_demand_variance": lead_demand_variance,
                    "lead_time_mean": lead_time_mean, "mu": daily,
                    "inventory_position": observation.inventory_position[rows]},
            parameters={"critical_ratio": ratio, "eoq": eoq},
        )


def _stretch(pmf: np.ndarray, factor: np.ndarray, width: int) -> np.ndarray:
    """The pmf of ceil(L * factor) per row, on 0 .. width - 1 days (mass beyond goes to the last day)."""
    if np.all(factor == 1.0) and pmf.shape[1] <= width:
        return np.pad(pmf, ((0, 0), (0, width - pmf.shape[1])))
    days = np.arange(pmf.shape[1])
    target = np.minimum(np.ceil(days[None, :] * factor[:, None]).astype(int), width - 1)
    out = np.zeros((pmf.shape[0], width))
    np.add.at(out, (np.repeat(np.arange(pmf.shape[0]), days.size), target.ravel()), pmf.ravel())
    return out
