"""Agents with a real allocation of short DCs, and the helpers the issue-6 wrappers share.

``AgentsWithAllocation(method)`` runs the agents policy unchanged, then, when the stores of a DC
ask it for more of a SKU than it holds, shares the DC's stock with ``planning.allocation.allocate``
(``lp``, ``greedy``, ``fair-share`` or ``proportional``) before the world ships. The world would
otherwise ration proportionally itself; with ``proportional`` here the result is the same rule, in
whole packs. The demand each store is protected against is its forecast over its lead time plus
``cover_days`` (normal approximation from the agents' level and variance); a store's lost-sale
penalty (which carries its priority, ``lost_sale_factor`` in the scenario) weighs its shortage.
With ``reserve=True`` the stores of a short DC that do not order today take part too, with a claim
up to their order-up-to level, so the plan may keep units at the DC for them (an option: it did not
pay in the dc-shortage scenario, see BENCHMARKS.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.planning.allocation import AllocationProblem, AllocationResult, allocate
from stockmesh.simulation.policies.agents import AgentsPolicy
from stockmesh.simulation.policies.base import Decision, Policy


def decision_input(decision: Decision, name: str, default: float = 0.0) -> np.ndarray:
    """One of a decision's per-row inputs as an array aligned with its rows."""
    value = decision.inputs.get(name, default)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), decision.rows.shape).astype(np.float64)


def recent_rate(observation: Observation, rows: np.ndarray, days: int = 7) -> np.ndarray:
    """Mean daily sales over the last ``days`` days (a lower bound of demand when censored)."""
    sales, _, _ = observation.history(days, rows)
    return np.asarray(sales.mean(axis=0), dtype=np.float64)


class AgentsWithAllocation:
    """The agents policy whose short DCs are shared by ``method``; see the module docstring."""

    def __init__(self, method: str = "lp", base: Policy | None = None, *, cover_days: float = 7.0,
                 time_limit: float = 2.0, reserve: bool = False) -> None:
        self.method = method
        self.base = base or AgentsPolicy()
        self.name = f"agents+{method}"
        self.cover_days = cover_days
        self.time_limit = time_limit
        self.reserve = reserve and method in ("lp", "greedy")
        self.last: AllocationResult | None = None
        self.solves = 0
        self.fallbacks = 0
        self.solve_seconds = 0.0

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        decision = self.base.decide(observation, rows)
        parent = observation.row_parent[rows]
        asks = (parent >= 0) & (decision.order_quantity > 0)
        if not asks.any():
            return decision
        pack = observation.pack_size[rows]
        wanted = (np.ceil(np.maximum(decision.order_quantity, 0) / pack) * pack).astype(np.int64)
        asking = np.flatnonzero(asks)
        groups = np.unique(parent[asking])
        available_all = observation.on_hand[groups].astype(np.float64)
        asked = np.bincount(np.searchsorted(groups, parent[asking]), weights=wanted[asking], minlength=groups.size)
        if not (asked > available_all).any():
            return decision
        # every store of a short DC takes part: those not ordering today hold a claim on the DC's
        # stock up to their order-up-to level, so the plan can keep units for them rather than
        # give everything to today's requests (they are shipped nothing today either way)
        short_groups = groups[asked > available_all]
        members = np.flatnonzero(np.isin(parent, short_groups) & (parent >= 0)) if self.reserve else np.flatnonzero(
            asks & np.isin(parent, short_groups))
        groups, local = np.unique(parent[members], return_inverse=True)
        available = observation.on_hand[groups].astype(np.float64)
        headroom = np.maximum(decision.order_up_to - observation.inventory_position[rows], 0)
        wanted = np.where(asks, wanted, np.ceil(headroom / pack) * pack).astype(np.int64)
        horizon = decision_input(decision, "lead_time_mean", 1.0)[members] + self.cover_days
        level = np.maximum(decision_input(decision, "level")[members], recent_rate(observation, rows[members]))
        variance = np.maximum(decision_input(decision, "daily_variance")[members], level)
        problem = AllocationProblem(
            group=local, requested=wanted[members], available=available,
            position=observation.inventory_position[rows[members]].astype(np.float64),
            demand_mean=level * horizon, demand_sd=np.sqrt(variance * horizon),
            shortage_cost=observation.lost_sale_penalty[rows[members]],
            # a unit kept at the DC costs the same holding as at a store: no overage cost in the split
            overage_cost=0.0,
            daily_demand=level, pack_size=pack[members],
        )
        result = allocate(problem, self.method, time_limit=self.time_limit)
        self.last = result
        self.solves += result.blocks
        self.fallbacks += result.fallback_blocks
        self.solve_seconds += sum(result.solve_seconds)
        if observation.controls is not None:
            # the stores still ask for everything (the DC sees its true demand); what ships is the plan
            ordering = asks[members]
            observation.controls.allocate(rows[members][ordering], result.allocated[ordering])
            return replace(decision, policy=self.name)
        quantity = np.where(asks, wanted, 0)
        quantity[members] = np.where(asks[members], result.allocated, 0)
        return replace(decision, order_quantity=quantity, policy=self.name)
