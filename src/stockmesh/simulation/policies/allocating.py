"""Agents with a real allocation of short DCs, and the helpers the wrapped agents policies share.

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

``AgentsWithHorizonAllocation`` plans over the interval until the DC's next expected receipt
instead (``planning.allocation.horizon``): what ships today and what the DC keeps for later.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.planning.allocation import AllocationProblem, AllocationResult, allocate
from stockmesh.planning.allocation.horizon import HorizonProblem, HorizonResult, allocate_over_horizon
from stockmesh.simulation.policies.agents import AgentsPolicy
from stockmesh.simulation.policies.base import Decision, Policy


def decision_input(decision: Decision, name: str, default: float = 0.0) -> np.ndarray:
    """One of a decision's per-row inputs as an array aligned with its rows."""
    value = decision.inputs.get(name, default)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), decision.rows.shape).astype(np.float64)


def whole_packs(observation: Observation, rows: np.ndarray, decision: Decision) -> np.ndarray:
    """What each row asks for, rounded up to whole packs (nothing for a negative order)."""
    pack = observation.pack_size[rows]
    return (np.ceil(np.maximum(decision.order_quantity, 0) / pack) * pack).astype(np.int64)


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
        return self._share(observation, rows, decision, whole_packs(observation, rows, decision))[0]

    def _share(self, observation: Observation, rows: np.ndarray, decision: Decision,
               wanted: np.ndarray) -> tuple[Decision, np.ndarray]:
        """The decision with the short DCs' shares applied, and what ships per row."""
        parent = observation.row_parent[rows]
        asks = (parent >= 0) & (decision.order_quantity > 0)
        shipped = wanted.astype(np.float64)
        if not asks.any():
            return decision, shipped
        pack = observation.pack_size[rows]
        asking = np.flatnonzero(asks)
        groups = np.unique(parent[asking])
        available_all = observation.on_hand[groups].astype(np.float64)
        asked = np.bincount(np.searchsorted(groups, parent[asking]), weights=wanted[asking], minlength=groups.size)
        if not (asked > available_all).any():
            return decision, shipped
        # every store of a short DC takes part: those not ordering today hold a claim on the DC's
        # stock up to their order-up-to level, so the plan can keep units for them rather than
        # give everything to today's requests (they are shipped nothing today either way)
        short_groups = groups[asked > available_all]
        members = np.flatnonzero(np.isin(parent, short_groups) & (parent >= 0)) if self.reserve else np.flatnonzero(
            asks & np.isin(parent, short_groups))
        groups, local = np.unique(parent[members], return_inverse=True)
        available = observation.on_hand[groups].astype(np.float64)
        headroom = np.maximum(decision.order_up_to - observation.inventory_position[rows], 0)
        claim = np.where(asks, wanted, np.ceil(headroom / pack) * pack).astype(np.int64)
        horizon = decision_input(decision, "lead_time_mean", 1.0)[members] + self.cover_days
        level = np.maximum(decision_input(decision, "level")[members], recent_rate(observation, rows[members]))
        variance = np.maximum(decision_input(decision, "daily_variance")[members], level)
        problem = AllocationProblem(
            group=local, requested=claim[members], available=available,
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
        shipped[members] = np.where(asks[members], result.allocated, 0)
        if observation.controls is not None:
            # the stores still ask for everything (the DC sees their requests); what ships is the plan
            ordering = asks[members]
            observation.controls.allocate(rows[members][ordering], result.allocated[ordering])
            return replace(decision, policy=self.name), shipped
        quantity = np.where(asks, wanted, 0)
        quantity[members] = np.where(asks[members], result.allocated, 0)
        return replace(decision, order_quantity=quantity, policy=self.name), shipped


class AgentsWithHorizonAllocation:
    """The agents policy whose DCs ration over the interval until their next receipt (``horizon-lp``).

    Every day, for each DC x SKU, the DC's open purchase orders (remembered when the DC placed them,
    with the agents' own expected lead time at that moment, and trimmed oldest first as the DC's
    on-order falls) give the day its next receipt is expected. Over that interval each store of the
    DC, ordering today or not, faces its demand in two windows: until a shipment decided tomorrow
    could reach it (its transit time), and from then until the receipt can reach it. Where today's
    requests or the stores' demand over both windows exceed the DC's stock,
    ``planning.allocation.horizon.allocate_over_horizon`` decides what ships today and what the DC
    keeps for the stores that will need it more (risk pooling); elsewhere the requests ship as they
    are. Demand rates are the agents' level and variance (at least the last week's sales), lost-sale
    penalties carry the stores' priorities; nothing here reads the world's truth.
    """

    def __init__(self, base: Policy | None = None, *, scenarios: int = 40, max_horizon_days: int = 42,
                 time_limit: float = 5.0, overdue_days: float = 1.0,
                 deferral_share: float = 0.01) -> None:
        self.base = base or AgentsPolicy()
        self.deferral_share = deferral_share
        self.name = f"{self.base.name}+horizon-lp"
        self.scenarios = scenarios
        self.max_horizon_days = max_horizon_days
        self.time_limit = time_limit
        self.overdue_days = overdue_days
        self.open_orders: dict[int, list[list[float]]] = {}  # DC row -> [[expected arrival day, units], ...]
        self.expected_lead: dict[int, float] = {}  # DC row -> the agents' lead time at its last decision
        self.last: HorizonResult | None = None
        self.solves = 0
        self.fallbacks = 0
        self.solve_seconds = 0.0

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        decision = self.base.decide(observation, rows)
        if (observation.row_echelon[rows] > 0).all():
            self._remember_orders(observation, decision)
            return decision
        return self._share(observation, rows, decision, whole_packs(observation, rows, decision))[0]

    def _share(self, observation: Observation, rows: np.ndarray, decision: Decision,
               wanted: np.ndarray) -> tuple[Decision, np.ndarray]:
        """The decision with today's shipments of the DCs at risk applied, and what ships per row."""
        parent = observation.row_parent[rows]
        supplied = np.flatnonzero(parent >= 0)
        shipped = wanted.astype(np.float64)
        if supplied.size == 0:
            return decision, shipped
        pack = observation.pack_size[rows]
        asks = decision.order_quantity > 0
        groups, local = np.unique(parent[supplied], return_inverse=True)
        receipt_in = self._days_to_next_receipt(observation, groups)
        transit = np.maximum(decision_input(decision, "lead_time_mean", 1.0)[supplied], 1.0)
        later_days = np.maximum(receipt_in[local] - 1.0, 0.0)
        level = np.maximum(decision_input(decision, "level")[supplied], recent_rate(observation, rows[supplied]))
        variance = np.maximum(decision_input(decision, "daily_variance")[supplied], level)
        problem = HorizonProblem(
            group=local, requested=np.where(asks, wanted, 0)[supplied],
            available=observation.on_hand[groups].astype(np.float64),
            position=observation.inventory_position[rows[supplied]].astype(np.float64),
            first_mean=level * transit, first_sd=np.sqrt(variance * transit),
            later_mean=level * later_days, later_sd=np.sqrt(variance * later_days),
            shortage_cost=observation.lost_sale_penalty[rows[supplied]],
            deferral_cost=self.deferral_share * observation.lost_sale_penalty[rows[supplied]], pack_size=pack[supplied])
        result = allocate_over_horizon(problem, scenarios=self.scenarios, seed=observation.day,
                                       time_limit=self.time_limit)
        self.last = result
        self.solves += result.blocks
        self.fallbacks += result.fallback_blocks
        self.solve_seconds += sum(result.solve_seconds)
        planned = result.at_risk[local] & asks[supplied]
        if not planned.any():
            return decision, shipped
        members = supplied[planned]
        shipped[members] = result.allocated[planned]
        if observation.controls is not None:
            # the stores still ask for everything (the DC sees their requests); what ships is the plan
            observation.controls.allocate(rows[members], result.allocated[planned])
            return replace(decision, policy=self.name), shipped
        quantity = np.where(asks, wanted, 0)
        quantity[members] = result.allocated[planned]
        return replace(decision, order_quantity=quantity, policy=self.name), shipped

    def _remember_orders(self, observation: Observation, decision: Decision) -> None:
        lead = decision_input(decision, "lead_time_mean", 1.0)
        self.expected_lead.update(zip(decision.rows.tolist(), lead.tolist(), strict=True))
        for i in np.flatnonzero(decision.order_quantity > 0):
            row = int(decision.rows[i])
            self.open_orders.setdefault(row, []).append(
                [observation.day + float(lead[i]), float(decision.order_quantity[i])])

    def _days_to_next_receipt(self, observation: Observation, dc_rows: np.ndarray) -> np.ndarray:
        """Days until each DC row's earliest open order is expected (an overdue one: ``overdue_days``).

        A DC with nothing on order is expected to order tomorrow at the latest: its lead time plus one."""
        days = np.full(dc_rows.size, float(self.max_horizon_days))
        for k, row in enumerate(dc_rows.tolist()):
            orders = self.open_orders.get(row)
            if not orders:
                days[k] = min(1.0 + self.expected_lead.get(row, float(observation.lane_lead_time_mean[row])),
                              self.max_horizon_days)
                continue
            # receipts are not labelled with their order: drop the oldest until the total matches
            excess = sum(units for _, units in orders) - float(observation.on_order[row])
            while orders and excess > 1e-9:
                taken = min(orders[0][1], excess)
                orders[0][1] -= taken
                excess -= taken
                if orders[0][1] <= 1e-9:
                    orders.pop(0)
            if orders:
                due_in = np.array([day for day, _ in orders]) - observation.day
                # an overdue order is expected to be as late again as it already is
                expected = np.where(due_in > 0, due_in, np.maximum(-due_in, self.overdue_days))
                days[k] = min(max(float(expected.min()), self.overdue_days), self.max_horizon_days)
        return days
