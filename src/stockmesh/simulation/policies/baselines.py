"""The two planner baselines every other policy is compared with.

Both see what a planner sees: observed sales (censored on empty-shelf days, taken as they are) and
the lane's mean lead time L. mu is the average daily sales of the SKU x site over the trailing 56
days; every policy reviews daily and orders up to its target when the inventory position is at or
below its trigger.
"""

from __future__ import annotations

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.simulation.policies.base import Decision, reorder_to_target

TRAILING_DAYS = 56
RECOMPUTE_EVERY_DAYS = 28


def trailing_mean(observation: Observation, rows: np.ndarray, days: int = TRAILING_DAYS) -> np.ndarray:
    sales, _censored, _days = observation.history(days, rows)
    return sales.mean(axis=0)


class MinMax:
    """Odoo-style days-of-cover reorder rule: min = ceil(mu (L + 7)), max = ceil(mu (L + 21)).

    mu is recomputed every 28 days from the trailing 56 days of sales.
    """

    name = "minmax"

    def __init__(self) -> None:
        self._mean: np.ndarray | None = None

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        if self._mean is None:
            self._mean = np.zeros(observation.on_hand.shape[0])
        if (observation.day - observation.first_decision_day) % RECOMPUTE_EVERY_DAYS == 0:
            # each echelon's pass refreshes its own rows, so a DC's mean includes today's requests
            self._mean[rows] = trailing_mean(observation, rows)
        mean = self._mean[rows]
        lead_time = observation.lane_lead_time_mean[rows]
        minimum = np.ceil(mean * (lead_time + 7))
        maximum = np.ceil(mean * (lead_time + 21))
        return reorder_to_target(
            self.name, rows, observation.inventory_position[rows], minimum, maximum,
            "if position <= min: order max - position; min = ceil(mu (L + 7)), max = ceil(mu (L + 21))",
            inputs={"mu": mean, "L": lead_time, "inventory_position": observation.inventory_position[rows]},
            parameters={"cover_days_min": 7.0, "cover_days_max": 21.0, "trailing_days": float(TRAILING_DAYS)},
        )


class ReorderLevel:
    """ERPNext-style fixed reorder level and quantity, set from the warm-up period only.

    level = ceil(1.25 mu L), quantity Q = ceil(14 mu); when the position is at or below the level
    the policy orders up to level + Q (at least Q). During the warm-up itself mu comes from the
    history; on the first measured day it is fixed from the warm-up days and never changes again.
    """

    name = "reorder-level"

    def __init__(self, warmup_days: int) -> None:
        self.warmup_days = warmup_days
        self._mean: np.ndarray | None = None

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        if self._mean is None:
            self._mean = np.zeros(observation.on_hand.shape[0])
        if observation.day == observation.first_decision_day:
            self._mean[rows] = trailing_mean(observation, rows)
        first_measured = observation.first_decision_day + self.warmup_days
        if observation.day == first_measured and self.warmup_days > 0:
            # the warm-up days are those before today
            sales, _censored, days = observation.history(self.warmup_days + 1, rows)
            self._mean[rows] = sales[days < first_measured].mean(axis=0)
        mean = self._mean[rows]
        lead_time = observation.lane_lead_time_mean[rows]
        level = np.ceil(1.25 * mean * lead_time)
        quantity = np.ceil(14 * mean)
        return reorder_to_target(
            self.name, rows, observation.inventory_position[rows], level, level + quantity,
            "if position <= level: order up to level + Q; level = ceil(1.25 mu L), Q = ceil(14 mu)",
            inputs={"mu": mean, "L": lead_time, "inventory_position": observation.inventory_position[rows]},
            parameters={"level_factor": 1.25, "quantity_days": 14.0},
        )
