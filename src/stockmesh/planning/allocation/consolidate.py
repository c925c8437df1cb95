"""Consolidation and transport modes: joint replenishment per lane, truck fill, standard vs expedited.

All functions work on rows (SKU x site lines) grouped by ``lane`` (one supplier -> site lane, or one
transfer lane), vectorised over lanes.

- ``joint_order``: can-order joint replenishment. A lane ships when one of its lines must order
  (position at or below its reorder level ``s``); then every line at or below its can-order level
  ``c = s + can_order_share (S - s)`` rides along, each up to its order-up-to level ``S``. Lines
  respect the supplier's minimum order quantity and pack size.
- ``fill_trucks``: a shipment pays per truck of ``truck_capacity`` units (and nothing on a lane whose
  day reaches ``free_freight_units``). Room left in the last truck (or up to a free-freight
  threshold within reach) is filled with the lines closest to their reorder level, in whole packs;
  a last truck loaded below ``min_last_truck_fill`` with ride-along units only is trimmed instead.
- ``choose_mode``: per lane shipment, the lines whose expected stock-out cost avoided by the
  shorter lead time exceeds the expedited mode's extra cost per unit, if together they also pay its
  cost per shipment, go expedited.

Each returns arrays plus the reasons per line, for the proposals' provenance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockmesh.planning.allocation.errors import AllocationInputError, check_finite_non_negative
from stockmesh.planning.allocation.shortage import expected_shortage


@dataclass(frozen=True, kw_only=True)
class JointOrder:
    quantity: np.ndarray
    triggered: np.ndarray  # the line's own position reached its reorder level
    ride_along: np.ndarray  # ordered only because its lane shipped
    lane_ships: np.ndarray  # per lane


def joint_order(lane: np.ndarray, position: np.ndarray, reorder_point: np.ndarray, order_up_to: np.ndarray, *,
                n_lanes: int, can_order_share: float = 0.6, min_order_qty: np.ndarray | int = 0,
                pack_size: np.ndarray | int = 1) -> JointOrder:
    """Can-order joint replenishment per lane; see the module docstring."""
    if not 0 <= can_order_share <= 1:
        raise AllocationInputError("can_order_share must lie in [0, 1]", field="can_order_share")
    check_finite_non_negative("min_order_qty", min_order_qty)
    lane = np.asarray(lane, dtype=np.int64)
    triggered = position <= reorder_point
    lane_ships = np.bincount(lane, weights=triggered, minlength=n_lanes) > 0
    can_order = reorder_point + can_order_share * (order_up_to - reorder_point)
    ordering = lane_ships[lane] & (position <= can_order)
    quantity = np.where(ordering, np.maximum(order_up_to - position, 0), 0.0)
    pack = np.maximum(np.asarray(pack_size, dtype=np.float64), 1)
    quantity = np.where(quantity > 0, np.maximum(quantity, min_order_qty), 0)
    quantity = (np.ceil(quantity / pack) * pack).astype(np.int64)
    return JointOrder(quantity=quantity, triggered=triggered & (quantity > 0),
                      ride_along=~triggered & (quantity > 0), lane_ships=lane_ships)


@dataclass(frozen=True, kw_only=True)
class TruckPlan:
    quantity: np.ndarray
    added: np.ndarray  # units added to fill a truck or reach free freight
    trimmed: np.ndarray  # units taken off to avoid a nearly empty truck
    trucks: np.ndarray  # per lane
    lane_units: np.ndarray  # per lane
    free_freight: np.ndarray  # per lane


def fill_trucks(lane: np.ndarray, quantity: np.ndarray, position: np.ndarray, reorder_point: np.ndarray,
                order_up_to: np.ndarray, daily_demand: np.ndarray, *, n_lanes: int, truck_capacity: np.ndarray,
                free_freight_units: np.ndarray | None = None, ride_along: np.ndarray | None = None,
                pack_size: np.ndarray | int = 1, max_cover_days: float = 60.0, free_freight_reach: float = 0.75,
                min_last_truck_fill: float = 0.25) -> TruckPlan:
    """Fill the trucks of each lane that ships; see the module docstring."""
    truck_capacity = np.asarray(truck_capacity, dtype=np.float64)
    check_finite_non_negative("truck_capacity", truck_capacity, allow_inf=True)
    if (truck_capacity <= 0).any():
        raise AllocationInputError("truck_capacity must be positive", field="truck_capacity")
    lane = np.asarray(lane, dtype=np.int64)
    pack = np.broadcast_to(np.maximum(np.asarray(pack_size, dtype=np.int64), 1), lane.shape)
    free = (np.full(n_lanes, np.inf) if free_freight_units is None
            else np.asarray(free_freight_units, dtype=np.float64))
    quantity = np.asarray(quantity, dtype=np.int64).copy()
    ride = np.zeros(lane.shape, dtype=bool) if ride_along is None else np.asarray(ride_along, dtype=bool)
    units = np.bincount(lane, weights=quantity, minlength=n_lanes)
    trimmed = np.zeros_like(quantity)
    # a last truck carrying only a little, all of it ride-alongs: leave those for the next shipment
    finite = np.isfinite(truck_capacity)
    full_trucks = np.where(finite, np.floor(units / np.where(finite, truck_capacity, 1)), 0)
    last_load = units - full_trucks * np.where(finite, truck_capacity, 0)
    ride_units = np.bincount(lane, weights=quantity * ride, minlength=n_lanes)
    trim_lane = finite & (full_trucks >= 1) & (last_load > 0) & (last_load <= min_last_truck_fill * truck_capacity) & (
        ride_units >= last_load) & (units < free)
    if trim_lane.any():
        need = last_load.copy()
        # trim the ride-alongs furthest above their reorder level first
        slack = np.where(ride & trim_lane[lane], (position - reorder_point) / np.maximum(daily_demand, 1e-9), -np.inf)
        for i in np.argsort(-slack, kind="stable"):
            if not np.isfinite(slack[i]) or need[lane[i]] <= 0:
                continue
            cut = min(quantity[i], int(need[lane[i]]))
            quantity[i] -= cut
            trimmed[i] += cut
            need[lane[i]] -= cut
        units = np.bincount(lane, weights=quantity, minlength=n_lanes)
    ships = units > 0
    trucks = np.where(finite, np.ceil(units / np.where(finite, truck_capacity, 1)), 1.0) * ships
    target = np.where(finite, trucks * np.where(finite, truck_capacity, 0), units)
    reach_free = ships & (units < free) & (units >= free_freight_reach * free)
    target = np.where(reach_free, np.maximum(target, free), target)
    target = np.where(np.isfinite(target), target, units)
    room = np.maximum(target - units, 0)
    added = np.zeros_like(quantity)
    if (room > 0).any():
        # extra units go to the lines with the least cover above their reorder level, up to a cap of cover
        cover = (position + quantity - reorder_point) / np.maximum(daily_demand, 1e-9)
        cap = np.maximum(np.floor((max_cover_days * daily_demand + reorder_point - position - quantity) / pack)
                         * pack, 0).astype(np.int64)
        cap = np.where(room[lane] > 0, cap, 0)
        for i in np.lexsort((cover, lane)):
            if cap[i] <= 0 or room[lane[i]] < pack[i]:
                continue
            give = int(min(cap[i], (room[lane[i]] // pack[i]) * pack[i],
                           max(order_up_to[i] - position[i] - quantity[i], pack[i])))
            give = (give // pack[i]) * pack[i]
            if give <= 0:
                continue
            quantity[i] += give
            added[i] += give
            room[lane[i]] -= give
        units = np.bincount(lane, weights=quantity, minlength=n_lanes)
    trucks = np.where(finite, np.ceil(units / np.where(finite, truck_capacity, 1)), 1.0) * (units > 0)
    return TruckPlan(quantity=quantity, added=added, trimmed=trimmed, trucks=trucks, lane_units=units,
                     free_freight=(units >= free) & (units > 0))


@dataclass(frozen=True, kw_only=True)
class ModeChoice:
    expedite: np.ndarray  # per line
    avoided_cost: np.ndarray  # per line: expected stock-out cost avoided by the faster mode
    extra_cost: np.ndarray  # per line: its share of the expedited mode's extra cost
    lane_net_value: np.ndarray  # per lane


def choose_mode(lane: np.ndarray, quantity: np.ndarray, stock: np.ndarray, daily_mean: np.ndarray,
                daily_sd: np.ndarray, shortage_cost: np.ndarray, standard_lead_time: np.ndarray,
                expedited_lead_time: np.ndarray, extra_cost_per_unit: np.ndarray, *, n_lanes: int,
                expedited_cost_per_shipment: np.ndarray) -> ModeChoice:
    """Standard or expedited per lane shipment; see the module docstring.

    ``stock`` is what the line can count on before its order lands (on hand plus earlier inbound);
    the order avoids the shortage of the days between the two lead times.
    """
    for name, value in (("extra_cost_per_unit", extra_cost_per_unit),
                        ("expedited_cost_per_shipment", expedited_cost_per_shipment)):
        check_finite_non_negative(name, value)
    lane = np.asarray(lane, dtype=np.int64)
    slow = expected_shortage(stock, daily_mean * standard_lead_time, daily_sd * np.sqrt(standard_lead_time))
    fast = expected_shortage(stock, daily_mean * expedited_lead_time, daily_sd * np.sqrt(expedited_lead_time))
    avoided = shortage_cost * np.minimum(np.maximum(slow - fast, 0), quantity)
    extra = extra_cost_per_unit * quantity
    gain = np.where(quantity > 0, avoided - extra, 0.0)
    candidate = gain > 0
    lane_gain = np.bincount(lane, weights=np.where(candidate, gain, 0.0), minlength=n_lanes)
    net = lane_gain - np.asarray(expedited_cost_per_shipment, dtype=np.float64)
    expedite = candidate & (net[lane] > 0)
    return ModeChoice(expedite=expedite, avoided_cost=avoided, extra_cost=extra, lane_net_value=net)
