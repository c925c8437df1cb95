"""The simulated world: steps every SKU x site of a day at once, as numpy arrays.

A day, in order:

1. receipts: orders whose arrival day is today land on hand (pipeline ring buffer keyed by
   arrival day); their realised lead times become observable per lane, as a real receipt would;
2. demand at stores; sales = min(demand, on hand) (backlog first in backorders mode); what is not
   sold is lost (default) or backordered;
3. perishable stock whose expiry day is today is written off;
4. the day's observation is recorded: sales, and whether the shelf ended the day empty (a real
   deployment sees censored sales, never demand);
5. the policy decides, echelon by echelon from the stores up, so a DC decides after seeing the
   requests of its stores that day. Store requests are shipped from DC stock (fair share,
   proportional to the requests, when short) and within lane capacity; orders to suppliers get a
   stochastic lead time (reliability, outages);
6. costs are accrued for the measured days.

Nothing here knows about scenarios or policies: ``step`` takes a ``decide(observation, rows)``
callable returning order quantities for ``rows``.

Optional, and inert unless a scenario asks for them: trucks (a lane's shipment cost is paid
per truck of ``lane_truck_capacity`` units), free freight (no transport cost on a lane's day that
reaches ``lane_free_freight_units``), supplier minimum order quantities per line, an expedited
mode per supply lane (lead time x factor, its own costs; the day's expedited lines form their own
shipment) and lateral lanes between stocking sites. A policy reaches the last two through
``observation.controls`` (``expedite(rows)`` before returning its orders, ``transship(...)``).

One piece: ``Observation`` holds views on the world's live arrays and ``WorldControls`` writes into
its state for the day (expedite flags, allocations, the pipeline), so both are faces of
``SimulatedWorld`` that change with it; apart, the world's internals would have to become an API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec

Decide = Callable[["Observation", np.ndarray], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What a real deployment could see on ``day``: positions, censored sales, calendars, notices.

    Arrays are views on the world's live state (do not modify them); rows are SKU x site.
    ``day`` is the absolute day index (history days first); the promotions calendar and weekdays
    are known in advance, so they are given for the whole run.
    """

    day: int
    first_decision_day: int
    weekday: np.ndarray  # [day]
    on_hand: np.ndarray
    on_order: np.ndarray
    backlog: np.ndarray
    inventory_position: np.ndarray
    promotion_active: np.ndarray  # [day, row] calendar, known ahead
    notice_factor: np.ndarray  # [row] announced lead-time factor for orders placed today (1 = none)
    notice_days_left: np.ndarray  # [row]
    lane_lead_time_mean: np.ndarray  # [row] quoted mean lead time of the row's supply lane
    lane_receipts: np.ndarray  # [row] number of receipts observed on the row's lane so far
    lane_lead_time_sum: np.ndarray  # [row] sum of their lead times (divided by any announced factor)
    lane_lead_time_sumsq: np.ndarray  # [row] sum of squares
    unit_cost: np.ndarray
    holding_cost_per_day: np.ndarray
    lost_sale_penalty: np.ndarray
    order_cost: np.ndarray
    pack_size: np.ndarray
    shelf_life_days: np.ndarray
    row_site: np.ndarray
    row_sku: np.ndarray
    row_parent: np.ndarray
    row_echelon: np.ndarray
    backorders: bool
    _sales_history: np.ndarray
    _censored_history: np.ndarray
    controls: WorldControls | None = None  # transport modes and lateral transfers

    def history(self, days: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last ``days`` days up to and including today, oldest first.

        Returns ``(sales, censored, day_index)``: observed sales (for a DC, its stores' requests),
        whether the day ended with an empty shelf (sales are then a lower bound of demand), and the
        absolute day numbers (to look up weekdays and the promotions calendar).
        """
        window = self._sales_history.shape[0]
        days = min(days, window, self.day + 1)
        day_index = np.arange(self.day - days + 1, self.day + 1)
        slots = day_index % window
        if rows is None:
            return self._sales_history[slots], self._censored_history[slots], day_index
        return (
            self._sales_history[np.ix_(slots, rows)],
            self._censored_history[np.ix_(slots, rows)],
            day_index,
        )


@dataclass
class RunTotals:
    """Per-row sums over the measured days, and whole-run flows for conservation checks."""

    demand: np.ndarray
    sales: np.ndarray
    short: np.ndarray
    stockout_days: np.ndarray
    on_hand_sum: np.ndarray
    holding_cost: np.ndarray
    order_lines: np.ndarray
    order_units: np.ndarray
    ordering_cost: np.ndarray
    transport_cost: np.ndarray
    stockout_cost: np.ndarray
    expired_units: np.ndarray
    expiry_cost: np.ndarray
    cycles: np.ndarray
    cycles_with_stockout: np.ndarray
    # whole run (from the first decision day), for conservation
    flow_received: np.ndarray
    flow_sold: np.ndarray
    flow_expired: np.ndarray
    flow_shipped_out: np.ndarray
    # lateral transfers received, expedited order units, trucks paid
    lateral_units: np.ndarray
    expedited_units: np.ndarray
    trucks: np.ndarray

    @classmethod
    def zeros(cls, n_rows: int) -> RunTotals:
        return cls(**{name: np.zeros(n_rows, dtype=np.float64) for name in cls.__dataclass_fields__})


class WorldControls:
    """What a policy may ask of the world besides order quantities.

    ``expedite(rows)`` ships today's orders of those rows by the expedited mode of their lane (if it
    has one); ``transship`` moves stock at once along a lateral lane; ``inbound_within`` tells the
    units due in within a number of days, as the ETAs of open orders would in a deployment.
    """

    def __init__(self, world: SimulatedWorld) -> None:
        self._world = world

    @property
    def spec(self) -> WorldSpec:
        return self._world.spec

    def expedite(self, rows: np.ndarray) -> None:
        world = self._world
        rows = np.asarray(rows, dtype=np.int64)
        world.expedite_today[rows] = world.expedite_factor[world.spec.row_lane[rows]] > 0

    def allocate(self, rows: np.ndarray, quantity: np.ndarray) -> None:
        """Ship these units today instead of the world's proportional rationing of a short DC.

        The policy still returns its full requests as orders (the DC observes them as its demand);
        the world ships ``min(quantity, request)`` per row, and rations proportionally only if the
        allocation itself asks for more than the DC holds.
        """
        world = self._world
        rows = np.asarray(rows, dtype=np.int64)
        world.allocation_today[rows] = np.maximum(np.asarray(quantity, dtype=np.int64), 0)

    def inbound_within(self, days: np.ndarray | int, rows: np.ndarray | None = None) -> np.ndarray:
        """Units (orders and lateral transfers) arriving within ``days`` days from today, per row."""
        world = self._world
        ahead = (np.arange(1, world.ring_days + 1) + world.day) % world.ring_days
        chosen = slice(None) if rows is None else rows
        due = np.cumsum(world.pipeline_qty[ahead][:, chosen] + world.lateral_qty[ahead][:, chosen], axis=0)
        index = np.clip(np.asarray(days, dtype=np.int64), 1, world.ring_days) - 1
        index = np.broadcast_to(index, due.shape[1:])
        return due[index, np.arange(due.shape[1])]

    def transship(self, lateral: np.ndarray, from_rows: np.ndarray, to_rows: np.ndarray,
                  quantity: np.ndarray) -> np.ndarray:
        """Dispatch lateral transfers now; returns the units really shipped (capacity, on hand)."""
        return self._world.transship(lateral, from_rows, to_rows, quantity)


class SimulatedWorld:
    """The stepping state of one run over a ``WorldSpec``. Seeded by the spec; no randomness here."""

    def __init__(self, spec: WorldSpec, *, history_window: int = 182) -> None:
        self.spec = spec
        n_rows = spec.n_rows
        self.day = spec.first_decision_day
        self.on_hand = spec.initial_on_hand.astype(np.int64).copy()
        self.on_order = np.zeros(n_rows, dtype=np.int64)
        self.backlog = np.zeros(n_rows, dtype=np.int64)
        self.ring_days = spec.max_lead_time + 1
        self.pipeline_qty = np.zeros((self.ring_days, n_rows), dtype=np.int64)
        self.pipeline_orders = np.zeros((self.ring_days, n_rows), dtype=np.int64)
        # lead times as a deployment would book them: divided by the factor the supplier announced
        # when the order was placed, so a known disruption does not pollute normal-times estimates
        self.pipeline_lead_time = np.zeros((self.ring_days, n_rows), dtype=np.float64)
        n_lanes = len(spec.lane_from)
        self.lane_receipts = np.zeros(n_lanes)
        self.lane_lead_time_sum = np.zeros(n_lanes)
        self.lane_lead_time_sumsq = np.zeros(n_lanes)
        # perishables: a ring of stock keyed by expiry day; non-perishable rows never enter it
        self.perishable = spec.shelf_life_days > 0
        self.expiry_slots = int(spec.shelf_life_days.max(initial=0))
        self.stock_by_expiry = np.zeros((max(self.expiry_slots, 1), n_rows), dtype=np.int64)
        if self.expiry_slots:
            # initial stock of perishables is fresh on the first decision day
            self._put_perishable(self.on_hand * self.perishable, self.day)
        self.stockout_in_cycle = np.zeros(n_rows, dtype=bool)
        self.echelon_rows = [np.flatnonzero(spec.row_echelon == e) for e in range(spec.n_echelons)]
        self.dc_supplied = spec.row_parent >= 0
        self.totals = RunTotals.zeros(n_rows)
        measured, n_ech, n_sites = spec.measured_days, spec.n_echelons, len(spec.site_ids)
        self.echelon_demand = np.zeros((measured, n_ech))
        self.echelon_orders = np.zeros((measured, n_ech))
        self.site_on_hand = np.zeros((measured, n_sites))
        self.daily_cost = np.zeros(measured)
        self.daily_demand = np.zeros(measured)
        self.daily_sales = np.zeros(measured)
        self._window = max(history_window, spec.history_days)
        self._sales_history = np.zeros((self._window, n_rows), dtype=np.float64)
        self._censored_history = np.zeros((self._window, n_rows), dtype=bool)
        self._prefill_history()
        self._requests_today = np.zeros(n_rows)
        self._orders_today = np.zeros(n_rows)
        # transport modes, trucks, minimums, lateral lanes (inert with the defaults)

        def per_lane(values: np.ndarray, default: float) -> np.ndarray:
            return values.astype(np.float64) if values.shape == (n_lanes,) else np.full(n_lanes, default)

        self.truck_capacity = per_lane(spec.lane_truck_capacity, np.inf)
        self.free_freight_units = per_lane(spec.lane_free_freight_units, np.inf)
        self.expedite_factor = per_lane(spec.lane_expedite_lead_time_factor, 0.0)
        self.expedite_cost_per_unit = per_lane(spec.lane_expedite_cost_per_unit, 0.0)
        self.expedite_cost_per_shipment = per_lane(spec.lane_expedite_cost_per_shipment, 0.0)
        self.min_order_qty = (spec.row_min_order_qty.astype(np.int64) if spec.row_min_order_qty.shape == (n_rows,)
                              else np.zeros(n_rows, dtype=np.int64))
        self.expedite_today = np.zeros(n_rows, dtype=bool)
        self.allocation_today = np.full(n_rows, -1, dtype=np.int64)  # -1: the world rations
        self.lateral_qty = np.zeros((self.ring_days, n_rows), dtype=np.int64)
        self._lateral_today = np.zeros(spec.n_laterals)
        self.controls = WorldControls(self)

    # ----------------------------------------------------------------- history and observation
    def _prefill_history(self) -> None:
        """History days are observed uncensored (stock was ample); a DC's history is its stores' demand."""
        spec = self.spec
        for day in range(spec.history_days):
            values = spec.demand[day].astype(np.float64)
            for echelon in range(1, spec.n_echelons):
                children = self.echelon_rows[echelon - 1]
                children = children[spec.row_parent[children] >= 0]
                values += np.bincount(
                    spec.row_parent[children], weights=values[children], minlength=spec.n_rows
                )
            self._sales_history[day % self._window] = values

    def observe(self) -> Observation:
        spec = self.spec
        day = self.day
        supplier = spec.row_supplier
        has_supplier = supplier >= 0
        safe_supplier = np.where(has_supplier, supplier, 0)
        notice_factor = np.where(has_supplier, spec.notice_factor[day, safe_supplier], 1.0)
        notice_days_left = np.where(has_supplier, spec.notice_days_left[day, safe_supplier], 0)
        lane = spec.row_lane
        return Observation(
            day=day,
            first_decision_day=spec.first_decision_day,
            weekday=spec.weekday,
            on_hand=self.on_hand,
            on_order=self.on_order,
            backlog=self.backlog,
            inventory_position=self.on_hand + self.on_order - self.backlog,
            promotion_active=spec.promotion_active,
            notice_factor=notice_factor,
            notice_days_left=notice_days_left,
            lane_lead_time_mean=spec.lane_lead_time_mean[lane],
            lane_receipts=self.lane_receipts[lane],
            lane_lead_time_sum=self.lane_lead_time_sum[lane],
            lane_lead_time_sumsq=self.lane_lead_time_sumsq[lane],
            unit_cost=spec.unit_cost,
            holding_cost_per_day=spec.holding_cost_per_day,
            lost_sale_penalty=spec.lost_sale_penalty,
            order_cost=spec.order_cost,
            pack_size=spec.pack_size,
            shelf_life_days=spec.shelf_life_days,
            row_site=spec.row_site,
            row_sku=spec.row_sku,
            row_parent=spec.row_parent,
            row_echelon=spec.row_echelon,
            backorders=spec.backorders,
            _sales_history=self._sales_history,
            _censored_history=self._censored_history,
            controls=self.controls,
        )

    # ----------------------------------------------------------------- stock movements
    def _put_perishable(self, quantity: np.ndarray, day: int) -> None:
        rows = np.flatnonzero(quantity)
        if rows.size == 0:
            return
        expiry_day = day + self.spec.shelf_life_days[rows] - 1
        self.stock_by_expiry[expiry_day % self.expiry_slots, rows] += quantity[rows]

    def _take(self, quantity: np.ndarray) -> None:
        """Take ``quantity`` (<= on hand) off the shelf, oldest perishable stock first."""
        self.on_hand -= quantity
        if not self.expiry_slots:
            return
        remaining = quantity * self.perishable
        if not remaining.any():
            return
        for ahead in range(self.expiry_slots):
            slot = (self.day + ahead) % self.expiry_slots
            taken = np.minimum(remaining, self.stock_by_expiry[slot])
            self.stock_by_expiry[slot] -= taken
            remaining -= taken

    def within_lane_capacity(self, rows: np.ndarray, quantity: np.ndarray) -> np.ndarray:
        """What of ``quantity`` the rows' lanes can carry today (what the world would ship)."""
        return self._within_lane_capacity(rows, quantity)

    def _within_lane_capacity(self, rows: np.ndarray, quantity: np.ndarray) -> np.ndarray:
        """Scale the day's quantities down, proportionally, on lanes whose capacity they exceed."""
        spec = self.spec
        lanes = spec.row_lane[rows]
        lane_units = np.bincount(lanes, weights=quantity, minlength=len(spec.lane_from))
        capacity = spec.lane_capacity_per_day
        over = lane_units > capacity
        if not over.any():
            return quantity
        ratio = np.ones_like(lane_units)
        ratio[over] = capacity[over] / lane_units[over]
        return np.floor(quantity * ratio[lanes]).astype(np.int64)

    def _dispatch(self, rows: np.ndarray, quantity: np.ndarray, measured: bool) -> None:
        """Put shipped quantities in the pipeline with their realised lead times, and cost them."""
        spec = self.spec
        placed = quantity > 0
        rows, quantity = rows[placed], quantity[placed]
        if rows.size == 0:
            return
        lead_time = spec.lead_time_draw[self.day, rows].astype(np.int64)
        lanes = spec.row_lane[rows]
        expedited = self.expedite_today[rows]
        factor = np.where(expedited, self.expedite_factor[lanes], 1.0)
        if expedited.any():
            lead_time = np.where(expedited, np.maximum(np.ceil(lead_time * factor), 1), lead_time).astype(np.int64)
        slot = (self.day + lead_time) % self.ring_days
        self.pipeline_qty[slot, rows] += quantity
        self.pipeline_orders[slot, rows] += 1
        supplier = spec.row_supplier[rows]
        announced = np.where(supplier >= 0, spec.notice_factor[self.day, np.maximum(supplier, 0)], 1.0)
        # booked as a deployment would: divided by the announced factor and the expedite factor
        self.pipeline_lead_time[slot, rows] += lead_time / announced / factor
        self.on_order[rows] += quantity
        if not measured:
            return
        totals = self.totals
        n_lanes = len(spec.lane_from)
        totals.order_lines[rows] += 1
        totals.order_units[rows] += quantity
        totals.ordering_cost[rows] += spec.order_cost[rows]
        for mode in (False, True):
            chosen = expedited == mode
            if not chosen.any():
                continue
            r, q, lane = rows[chosen], quantity[chosen], lanes[chosen]
            lane_units = np.bincount(lane, weights=q, minlength=n_lanes)
            trucks = np.where(np.isfinite(self.truck_capacity), np.ceil(lane_units / self.truck_capacity), 1.0)
            if mode:
                per_unit, per_shipment = self.expedite_cost_per_unit, self.expedite_cost_per_shipment
                totals.expedited_units[r] += q
                free = np.zeros(n_lanes, dtype=bool)
            else:
                per_unit, per_shipment = spec.lane_cost_per_unit, spec.lane_cost_per_shipment
                free = lane_units >= self.free_freight_units
            shipment_cost = np.where(free, 0.0, per_shipment * trucks)
            totals.trucks[r] += trucks[lane] * q / lane_units[lane]
            totals.transport_cost[r] += (q * np.where(free[lane], 0.0, per_unit[lane])
                                         + shipment_cost[lane] * q / lane_units[lane])

    def expedite_in_flight(self, row: int, arrival_day: int, qty: int) -> int:
        """Switch one open order of ``row`` (``qty`` units due on ``arrival_day``) to its lane's
        expedited mode from today: the rest of its journey takes the lane's lead-time factor of what
        was left (rounded up, at least a day). Returns the new arrival day (unchanged when the lane
        has no expedited mode or nothing would be gained). The expedited mode's extra cost per unit
        over the standard one, and its cost per shipment, are transport cost of the row."""
        spec = self.spec
        lane = int(spec.row_lane[row])
        factor = float(self.expedite_factor[lane])
        remaining = arrival_day - self.day
        old = arrival_day % self.ring_days
        if (factor <= 0 or remaining <= 1 or qty <= 0 or self.pipeline_qty[old, row] < qty
                or self.pipeline_orders[old, row] < 1):
            return arrival_day
        faster = max(int(np.ceil(remaining * factor)), 1)
        if faster >= remaining:
            return arrival_day
        new = (self.day + faster) % self.ring_days
        booked = self.pipeline_lead_time[old, row] / self.pipeline_orders[old, row]  # the order's booked lead time goes with it
        self.pipeline_qty[old, row] -= qty
        self.pipeline_qty[new, row] += qty
        self.pipeline_orders[old, row] -= 1
        self.pipeline_orders[new, row] += 1
        self.pipeline_lead_time[old, row] -= booked
        self.pipeline_lead_time[new, row] += booked
        if self.day >= spec.first_measured_day:
            extra = max(float(self.expedite_cost_per_unit[lane] - spec.lane_cost_per_unit[lane]), 0.0)
            self.totals.transport_cost[row] += qty * extra + float(self.expedite_cost_per_shipment[lane])
            self.totals.expedited_units[row] += qty
        return self.day + faster

    def transship(self, lateral: np.ndarray, from_rows: np.ndarray, to_rows: np.ndarray,
                  quantity: np.ndarray) -> np.ndarray:
        """Lateral transfers dispatched now, within donors' on hand and lanes' daily capacity."""
        spec = self.spec
        lateral = np.asarray(lateral, dtype=np.int64)
        from_rows = np.asarray(from_rows, dtype=np.int64)
        to_rows = np.asarray(to_rows, dtype=np.int64)
        quantity = np.maximum(np.asarray(quantity, dtype=np.int64), 0)
        if quantity.size == 0:
            return quantity
        if (spec.row_sku[from_rows] != spec.row_sku[to_rows]).any():
            raise ValueError("a lateral transfer moves one SKU between two sites")
        if ((spec.lateral_from[lateral] != spec.row_site[from_rows])
                | (spec.lateral_to[lateral] != spec.row_site[to_rows])).any():
            raise ValueError("a lateral transfer must use a lane from the donor's site to the receiver's")
        room = np.maximum(spec.lateral_capacity_per_day - self._lateral_today, 0)
        asked = np.bincount(lateral, weights=quantity, minlength=spec.n_laterals)
        ratio = np.where(asked > room, room / np.maximum(asked, 1), 1.0)
        quantity = np.floor(quantity * ratio[lateral]).astype(np.int64)
        # never more than the donor holds (several transfers from one donor share its stock)
        out = np.bincount(from_rows, weights=quantity, minlength=spec.n_rows)
        scale = np.where(out > self.on_hand, self.on_hand / np.maximum(out, 1), 1.0)
        quantity = np.floor(quantity * scale[from_rows]).astype(np.int64)
        quantity = np.where(quantity >= spec.lateral_min_shipment[lateral], quantity, 0)
        if not quantity.any():
            return quantity
        taken = np.bincount(from_rows, weights=quantity, minlength=spec.n_rows).astype(np.int64)
        self._take(taken)
        self.totals.flow_shipped_out += taken
        transit = np.maximum(spec.lateral_transit_draw[self.day, lateral], 1).astype(np.int64)
        slot = (self.day + transit) % self.ring_days
        np.add.at(self.lateral_qty, (slot, to_rows), quantity)
        np.add.at(self.on_order, to_rows, quantity)
        shipped = np.bincount(lateral, weights=quantity, minlength=spec.n_laterals)
        self._lateral_today += shipped
        if self.day >= spec.first_measured_day:
            moving = quantity > 0
            lanes, q, rows = lateral[moving], quantity[moving].astype(np.float64), to_rows[moving]
            cost = q * spec.lateral_cost_per_unit[lanes] + spec.lateral_cost_per_shipment[lanes] * q / shipped[lanes]
            np.add.at(self.totals.transport_cost, rows, cost)
            np.add.at(self.totals.lateral_units, rows, q)
        return quantity

    def _place_orders(self, rows: np.ndarray, quantity: np.ndarray, measured: bool) -> None:
        spec = self.spec
        pack = spec.pack_size[rows]
        quantity = np.ceil(np.maximum(quantity, 0) / pack).astype(np.int64) * pack
        self._orders_today[rows] = quantity
        from_dc = self.dc_supplied[rows]
        if from_dc.any():
            dc_rows, requested = rows[from_dc], quantity[from_dc]
            parents = spec.row_parent[dc_rows]
            total_requested = np.bincount(parents, weights=requested, minlength=spec.n_rows)
            self._requests_today += total_requested
            # the DC observes its stores' requests as its demand, uncensored
            self._sales_history[self.day % self._window] += total_requested
            available = self.on_hand.astype(np.float64)
            chosen = self.allocation_today[dc_rows]
            allocated = chosen >= 0
            if allocated.any():  # a policy's allocation replaces the request as what ships
                requested = np.where(allocated, np.minimum(chosen, requested), requested)
                total_requested = np.bincount(parents, weights=requested, minlength=spec.n_rows)
            share = np.ones(spec.n_rows)
            short = total_requested > available
            share[short] = available[short] / total_requested[short]
            shipped = np.floor(requested * share[parents]).astype(np.int64)
            shipped = self._within_lane_capacity(dc_rows, shipped)
            out = np.bincount(parents, weights=shipped, minlength=spec.n_rows).astype(np.int64)
            self._take(out)
            self.totals.flow_shipped_out += out
            self._dispatch(dc_rows, shipped, measured)
        from_supplier = ~from_dc
        if from_supplier.any():
            sup_rows = rows[from_supplier]
            ordered = quantity[from_supplier]
            moq = self.min_order_qty[sup_rows]
            if moq.any():  # a supplier's minimum per line, in whole packs
                pack_rows = spec.pack_size[sup_rows]
                ordered = np.where(ordered > 0, np.maximum(ordered, np.ceil(moq / pack_rows) * pack_rows), 0)
                ordered = ordered.astype(np.int64)
                self._orders_today[sup_rows] = ordered
            ordered = self._within_lane_capacity(sup_rows, ordered)
            self._dispatch(sup_rows, ordered, measured)

    # ----------------------------------------------------------------- the day
    def step(self, decide: Decide) -> None:
        """Simulate one day, asking ``decide`` for the orders of each echelon in turn."""
        spec = self.spec
        day = self.day
        if day >= spec.n_days:
            raise RuntimeError("the run is over")
        measured = day >= spec.first_measured_day
        totals = self.totals

        # 1. receipts
        slot = day % self.ring_days
        arriving = self.pipeline_qty[slot]
        arrived_rows = np.flatnonzero(arriving)
        if arrived_rows.size:
            quantity = arriving[arrived_rows]
            self.on_hand[arrived_rows] += quantity
            self.on_order[arrived_rows] -= quantity
            totals.flow_received[arrived_rows] += quantity
            if self.expiry_slots:
                received = np.zeros(spec.n_rows, dtype=np.int64)
                received[arrived_rows] = quantity * self.perishable[arrived_rows]
                self._put_perishable(received, day)
            lanes = spec.row_lane[arrived_rows]
            n_lanes = len(spec.lane_from)
            orders = self.pipeline_orders[slot, arrived_rows]
            lead_time_sum = self.pipeline_lead_time[slot, arrived_rows]
            # one realised lead time per order; when several orders of a row arrive together
            # their mean stands in for each (exact when they share a lead time)
            mean_lead = lead_time_sum / orders
            self.lane_receipts += np.bincount(lanes, weights=orders, minlength=n_lanes)
            self.lane_lead_time_sum += np.bincount(lanes, weights=lead_time_sum, minlength=n_lanes)
            self.lane_lead_time_sumsq += np.bincount(lanes, weights=orders * mean_lead**2, minlength=n_lanes)
            if measured:
                totals.cycles[arrived_rows] += 1
                totals.cycles_with_stockout[arrived_rows] += self.stockout_in_cycle[arrived_rows]
            self.stockout_in_cycle[arrived_rows] = False
            self.pipeline_qty[slot] = 0
            self.pipeline_orders[slot] = 0
            self.pipeline_lead_time[slot] = 0
        lateral_in = self.lateral_qty[slot]
        lateral_rows = np.flatnonzero(lateral_in)
        if lateral_rows.size:  # lateral transfers: stock, not lane lead-time observations
            quantity = lateral_in[lateral_rows]
            self.on_hand[lateral_rows] += quantity
            self.on_order[lateral_rows] -= quantity
            totals.flow_received[lateral_rows] += quantity
            if self.expiry_slots:
                received = np.zeros(spec.n_rows, dtype=np.int64)
                received[lateral_rows] = quantity * self.perishable[lateral_rows]
                self._put_perishable(received, day)
            self.lateral_qty[slot] = 0

        # 2. demand and sales
        demand = spec.demand[day].astype(np.int64)
        wanted = demand + self.backlog if spec.backorders else demand
        sold = np.minimum(wanted, self.on_hand)
        self._take(sold)
        totals.flow_sold += sold
        if spec.backorders:
            served_from_backlog = np.minimum(self.backlog, sold)
            short_today = demand - (sold - served_from_backlog)
            self.backlog = wanted - sold
        else:
            short_today = wanted - sold
        stockout = short_today > 0
        self.stockout_in_cycle |= stockout

        # 3. expiry
        expired = None
        if self.expiry_slots:
            expiry_slot = day % self.expiry_slots
            expired = self.stock_by_expiry[expiry_slot].copy()
            self.stock_by_expiry[expiry_slot] = 0
            self.on_hand -= expired
            totals.flow_expired += expired

        # 4. observation of the day (DC rows get their stores' requests during step 5)
        history_slot = day % self._window
        self._sales_history[history_slot] = sold
        self._censored_history[history_slot] = (self.on_hand == 0) & (spec.row_echelon == 0)

        # 5. decisions, from the stores up
        self._requests_today[:] = 0
        self._orders_today[:] = 0
        self.expedite_today[:] = False
        self.allocation_today[:] = -1
        self._lateral_today[:] = 0
        for rows in self.echelon_rows:
            if rows.size == 0:
                continue
            quantity = np.asarray(decide(self.observe(), rows))
            self._place_orders(rows, quantity, measured)

        # 6. costs and series
        if measured:
            index = day - spec.first_measured_day
            totals.demand += demand
            totals.sales += demand - short_today
            totals.short += short_today
            totals.stockout_days += stockout
            totals.on_hand_sum += self.on_hand
            holding = self.on_hand * spec.holding_cost_per_day
            totals.holding_cost += holding
            if spec.backorders:
                stockout_cost = self.backlog * spec.backorder_cost_per_day
            else:
                stockout_cost = short_today * spec.lost_sale_penalty
            totals.stockout_cost += stockout_cost
            if expired is not None:
                totals.expired_units += expired
                totals.expiry_cost += expired * spec.unit_cost
            faced = demand + self._requests_today
            self.echelon_demand[index] = np.bincount(spec.row_echelon, weights=faced, minlength=spec.n_echelons)
            self.echelon_orders[index] = np.bincount(
                spec.row_echelon, weights=self._orders_today, minlength=spec.n_echelons
            )
            self.site_on_hand[index] = np.bincount(spec.row_site, weights=self.on_hand, minlength=len(spec.site_ids))
            self.daily_demand[index] = demand.sum()
            self.daily_sales[index] = (demand - short_today).sum()
            self.daily_cost[index] = holding.sum() + stockout_cost.sum()
        self.day += 1

    @property
    def done(self) -> bool:
        return self.day >= self.spec.n_days

    def run(self, decide: Decide, on_day: Callable[[int], None] | None = None) -> RunTotals:
        """Step to the end of the run; ``on_day`` is told each finished day (for progress bars)."""
        while not self.done:
            self.step(decide)
            if on_day is not None:
                on_day(self.day)
        return self.totals
