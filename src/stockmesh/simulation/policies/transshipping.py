"""Agents with rebalancing: lateral transfers between sites of one echelon, by composition.

``AgentsWithRebalancing`` asks the agents policy for its decision, then, on review days (every
``period_days``) for every SKU and on any day for the SKUs with a projected stock-out (on hand plus
what is due in within the lead time below the demand expected over it), builds a
``RebalanceProblem`` from the observation and the agents' own estimates and dispatches the
transfers that ``planning.allocation.rebalance`` finds worth their cost, through
``observation.controls.transship``. Orders are then recomputed on the positions after the
transfers, with the agents' own (s, S). The agents policy itself is untouched, so its figures stay
reproducible.

Demand rates use the larger of the agents' level and the last ``recent_days`` of sales, so a store
whose demand just jumped is seen as at risk before the forecast has caught up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.planning.allocation.rebalance import Lanes, RebalanceProblem, RebalanceResult, rebalance
from stockmesh.simulation.policies.agents import AgentsPolicy
from stockmesh.simulation.policies.allocating import decision_input, recent_rate
from stockmesh.simulation.policies.base import Decision, Policy


@dataclass
class RebalancingStats:
    solves: int = 0
    fallbacks: int = 0
    transfers: int = 0
    units: int = 0
    expected_value: float = 0.0
    solve_seconds: float = 0.0
    log: list[dict[str, object]] = field(default_factory=list)


class AgentsWithRebalancing:
    """The agents policy plus periodic and reactive lateral transfers; see the module docstring."""

    def __init__(self, base: Policy | None = None, *, period_days: int = 7, recent_days: int = 7,
                 time_limit: float = 2.0, hurdle: float = 1.0, keep_log: bool = False) -> None:
        self.base = base or AgentsPolicy()
        self.name = f"{self.base.name}+rebalancing"
        self.period_days = period_days
        self.recent_days = recent_days
        self.time_limit = time_limit
        self.hurdle = hurdle
        self.keep_log = keep_log
        self.stats = RebalancingStats()

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        decision = self.base.decide(observation, rows)
        planned = rebalancing_problem(observation, rows, decision, period_days=self.period_days,
                                      recent_days=self.recent_days)
        if planned is None:
            return decision
        chosen, problem = planned
        result = rebalance(problem, time_limit=self.time_limit, hurdle=self.hurdle)
        moved = self._dispatch(observation, rows, chosen, result)
        if not moved.any():
            return decision
        return reorder_after_transfers(observation, rows, decision, moved, self.name)

    def _dispatch(self, observation: Observation, rows: np.ndarray, chosen: np.ndarray,
                  result: RebalanceResult) -> np.ndarray:
        """Ship the transfers; returns the change of each row's position (+ in, - out)."""
        stats = self.stats
        stats.solves += result.blocks
        stats.fallbacks += result.fallback_blocks
        stats.solve_seconds += sum(result.solve_seconds)
        transfers = result.transfers
        moved = np.zeros(rows.size, dtype=np.int64)
        if len(transfers) == 0 or observation.controls is None:
            return moved
        from_local, to_local = chosen[transfers.from_row], chosen[transfers.to_row]
        shipped = observation.controls.transship(transfers.lane, rows[from_local], rows[to_local], transfers.qty)
        np.add.at(moved, to_local, shipped)
        np.add.at(moved, from_local, -shipped)
        stats.transfers += int((shipped > 0).sum())
        stats.units += int(shipped.sum())
        stats.expected_value += float(transfers.expected_value[shipped > 0].sum())
        if self.keep_log:
            for i in np.flatnonzero(shipped > 0):
                stats.log.append({"day": observation.day, "from_row": int(rows[from_local[i]]),
                                  "to_row": int(rows[to_local[i]]), **transfers.explain(int(i))})
        return moved


def rebalancing_problem(observation: Observation, rows: np.ndarray, decision: Decision, *, period_days: int = 7,
                        recent_days: int = 7) -> tuple[np.ndarray, RebalanceProblem] | None:
    """The day's rebalancing problem over ``rows`` (positions in ``rows`` it covers, and the problem), or None.

    Every SKU on review days (every ``period_days``), otherwise only the SKUs with a row projected
    to run out within its lead time plus a day (on hand plus what is due in below the demand
    expected over it). Rates are the larger of the agents' level and the last ``recent_days`` of
    sales; a donor keeps its safety stock (reorder point minus lead-time demand)."""
    controls = observation.controls
    if controls is None or controls.spec.n_laterals == 0:
        return None
    spec = controls.spec
    sites = np.unique(observation.row_site[rows])
    if not np.isin(spec.lateral_from, sites).any():
        return None
    lead = decision_input(decision, "lead_time_mean", 1.0)
    horizon = np.ceil(lead) + 1
    level = np.maximum(decision_input(decision, "level"), recent_rate(observation, rows, recent_days))
    variance = np.maximum(decision_input(decision, "daily_variance"), level)
    on_hand = observation.on_hand[rows].astype(np.float64)
    due = controls.inbound_within(horizon.astype(np.int64), rows).astype(np.float64)
    stock = on_hand + due
    at_risk = stock < level * horizon
    review = (observation.day - observation.first_decision_day) % period_days == 0
    skus = observation.row_sku[rows]
    wanted = np.ones(rows.size, dtype=bool) if review else np.isin(skus, np.unique(skus[at_risk]))
    if not wanted.any():
        return None
    safety = np.maximum(decision.reorder_point - decision_input(decision, "lead_time_demand_mean"), 0)
    lanes = Lanes(source=spec.lateral_from, destination=spec.lateral_to,
                  cost_per_unit=spec.lateral_cost_per_unit, cost_per_shipment=spec.lateral_cost_per_shipment,
                  capacity=spec.lateral_capacity_per_day, transit_days=spec.lateral_transit_mean,
                  min_shipment=spec.lateral_min_shipment)
    chosen = np.flatnonzero(wanted)
    return chosen, RebalanceProblem(
        sku=skus[chosen], site=observation.row_site[rows[chosen]], on_hand=on_hand[chosen],
        stock_in_horizon=stock[chosen], demand_mean=level[chosen], demand_sd=np.sqrt(variance[chosen]),
        horizon_days=horizon[chosen], safety_stock=safety[chosen],
        shortage_cost=observation.lost_sale_penalty[rows[chosen]], lanes=lanes, n_sites=len(spec.site_ids))


def reorder_after_transfers(observation: Observation, rows: np.ndarray, decision: Decision, moved: np.ndarray,
                            policy: str) -> Decision:
    """The decision's own (s, S) applied again to the positions after the day's transfers."""
    position = observation.inventory_position[rows] + moved
    order = np.where(position <= decision.reorder_point, np.maximum(decision.order_up_to - position, 0), 0)
    return replace(decision, order_quantity=np.ceil(order).astype(np.int64), policy=policy)
