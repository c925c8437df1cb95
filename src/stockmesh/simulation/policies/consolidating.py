"""Consolidated replenishment and transport modes for the array twin, by composition.

- ``AgentsOwnShipment``: every SKU orders on its own, but prices a whole shipment into its fixed
  order cost (``K = line cost + shipment cost``): the honest "each SKU on its own" baseline when
  shipments cost money. (The plain agents policy does not see shipment costs at all.)
- ``JointReplenishment``: the agents' (s, S) with the shipment cost shared by the lane's lines
  (``K = line cost + shipment cost / lines on the lane``), then can-order joint replenishment per
  supplier lane, trucks filled and nearly empty last trucks trimmed (``planning.allocation.consolidate``).
- ``AgentsWithExpediting``: the agents' orders, each lane's shipment sent expedited when the
  stock-out cost its shorter lead time avoids pays for the mode (``choose_mode``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from stockmesh.adapters.simulated.world import Observation
from stockmesh.planning.allocation.consolidate import choose_mode, fill_trucks, joint_order
from stockmesh.simulation.policies.agents import AgentsPolicy
from stockmesh.simulation.policies.allocating import decision_input, recent_rate
from stockmesh.simulation.policies.base import Decision, Policy


def _lane_arrays(observation: Observation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_lane, shipment cost per lane, truck capacity per lane) from the world's spec."""
    if observation.controls is None:
        raise ValueError("this policy needs the world's controls (run it in the simulated world)")
    world = observation.controls._world
    spec = world.spec
    return spec.row_lane, spec.lane_cost_per_shipment, world.truck_capacity


class AgentsOwnShipment:
    """Each SKU on its own, paying a whole shipment per order; see the module docstring."""

    def __init__(self, base: AgentsPolicy | None = None) -> None:
        self.base = base or AgentsPolicy()
        self.name = "agents-own-shipment"

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        row_lane, shipment_cost, _ = _lane_arrays(observation)
        priced = replace(observation, order_cost=observation.order_cost + shipment_cost[row_lane])
        return replace(self.base.decide(priced, rows), policy=self.name)


@dataclass
class ConsolidationStats:
    shipments: int = 0
    lines: int = 0
    ride_along_lines: int = 0
    units_added: int = 0
    units_trimmed: int = 0


class JointReplenishment:
    """Can-order joint replenishment per supplier lane with truck fill; see the module docstring."""

    def __init__(self, base: AgentsPolicy | None = None, *, can_order_share: float = 0.6,
                 max_cover_days: float = 45.0) -> None:
        self.base = base or AgentsPolicy()
        self.name = "agents+consolidation"
        self.can_order_share = can_order_share
        self.max_cover_days = max_cover_days
        self.stats = ConsolidationStats()

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        row_lane, shipment_cost, truck_capacity = _lane_arrays(observation)
        n_lanes = shipment_cost.shape[0]
        lines_per_lane = np.bincount(row_lane, minlength=n_lanes)
        shared = shipment_cost[row_lane] / np.maximum(lines_per_lane[row_lane], 1)
        priced = replace(observation, order_cost=observation.order_cost + shared)
        decision = self.base.decide(priced, rows)
        from_supplier = observation.row_parent[rows] < 0
        if not from_supplier.any():
            return replace(decision, policy=self.name)
        world = observation.controls._world  # type: ignore[union-attr]
        chosen = np.flatnonzero(from_supplier)
        r = rows[chosen]
        lane = row_lane[r]
        position = observation.inventory_position[r].astype(np.float64)
        s, big_s = decision.reorder_point[chosen], decision.order_up_to[chosen]
        joint = joint_order(lane, position, s, big_s, n_lanes=n_lanes, can_order_share=self.can_order_share,
                            min_order_qty=world.min_order_qty[r], pack_size=observation.pack_size[r])
        daily = np.maximum(decision_input(decision, "level")[chosen], recent_rate(observation, r))
        plan = fill_trucks(lane, joint.quantity, position, s, big_s, daily, n_lanes=n_lanes,
                           truck_capacity=truck_capacity, free_freight_units=world.free_freight_units,
                           ride_along=joint.ride_along, pack_size=observation.pack_size[r],
                           max_cover_days=self.max_cover_days)
        quantity = decision.order_quantity.copy()
        quantity[chosen] = plan.quantity
        stats = self.stats
        stats.shipments += int((plan.lane_units > 0).sum())
        stats.lines += int((plan.quantity > 0).sum())
        stats.ride_along_lines += int((joint.ride_along & (plan.quantity > 0)).sum())
        stats.units_added += int(plan.added.sum())
        stats.units_trimmed += int(plan.trimmed.sum())
        return replace(decision, order_quantity=quantity, policy=self.name)


class AgentsWithExpediting:
    """The agents' orders with a per-shipment choice of transport mode; see the module docstring."""

    def __init__(self, base: Policy | None = None) -> None:
        self.base = base or AgentsPolicy()
        self.name = f"{self.base.name}+expediting"
        self.expedited_lines = 0
        self.expedited_units = 0

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision:
        decision = self.base.decide(observation, rows)
        controls = observation.controls
        if controls is None:
            return decision
        world = controls._world
        lanes = world.spec.row_lane[rows]
        ordering = (decision.order_quantity > 0) & (world.expedite_factor[lanes] > 0)
        if not ordering.any():
            return decision
        chosen = np.flatnonzero(ordering)
        r, lane = rows[chosen], lanes[chosen]
        lead = decision_input(decision, "lead_time_mean", 1.0)[chosen]
        fast = np.maximum(np.ceil(lead * world.expedite_factor[lane]), 1)
        daily = np.maximum(decision_input(decision, "level")[chosen], recent_rate(observation, r))
        variance = np.maximum(decision_input(decision, "daily_variance")[chosen], daily)
        stock = observation.on_hand[r] + controls.inbound_within(np.maximum(lead, 1).astype(np.int64), r)
        choice = choose_mode(
            lane, decision.order_quantity[chosen].astype(np.float64), stock.astype(np.float64), daily,
            np.sqrt(variance), observation.lost_sale_penalty[r], lead, fast,
            np.maximum(world.expedite_cost_per_unit[lane] - world.spec.lane_cost_per_unit[lane], 0),
            n_lanes=len(world.spec.lane_from),
            expedited_cost_per_shipment=world.expedite_cost_per_shipment)
        if choice.expedite.any():
            controls.expedite(r[choice.expedite])
            self.expedited_lines += int(choice.expedite.sum())
            self.expedited_units += int(decision.order_quantity[chosen][choice.expedite].sum())
        return decision
