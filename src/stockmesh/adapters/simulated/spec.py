"""The frozen description of a simulated world: every input the twin needs, as columnar arrays.

One *row* is one SKU at one stocking site (a DC or a store). Suppliers are not rows: they have no
stock of their own, only a lead-time distribution. A row is supplied either by a supplier
(``row_parent == -1``) or by the row of the same SKU at a DC (``row_parent`` = that row's index).

Matrices indexed ``[day, row]`` cover the whole run: ``history_days`` of past demand first, then the
warm-up, then the measured days. Realised demand and lead times are drawn once, up front, so every
policy faces the same path (common random numbers) and a seeded run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

STORE_ECHELON = 0
DC_ECHELON_BASE = 1


@dataclass(frozen=True, kw_only=True)
class WorldSpec:
    """Everything the simulated world knows about itself, including what policies must not see.

    ``demand_mean``, ``demand_variance`` and ``lead_time_pmf`` are the generator's TRUE
    distributions: only the oracle baseline may read them.
    """

    # calendar
    history_days: int
    warmup_days: int
    measured_days: int
    weekday: np.ndarray  # [day] 0 = Monday
    # names
    site_ids: tuple[str, ...]
    site_is_store: np.ndarray  # [site] bool
    sku_ids: tuple[str, ...]
    supplier_ids: tuple[str, ...]
    # rows
    row_sku: np.ndarray  # [row] int
    row_site: np.ndarray  # [row] int
    row_parent: np.ndarray  # [row] int, -1 when supplied by a supplier
    row_supplier: np.ndarray  # [row] int, -1 when supplied by a DC
    row_lane: np.ndarray  # [row] int
    row_echelon: np.ndarray  # [row] 0 = store, 1 = DC supplying stores, 2 = DC supplying DCs ...
    # economics per row
    unit_cost: np.ndarray
    holding_cost_per_day: np.ndarray
    lost_sale_penalty: np.ndarray  # per unit short (lost sales), = unit margin
    backorder_cost_per_day: np.ndarray  # per unit backordered per day (backorders mode)
    order_cost: np.ndarray  # fixed cost of one order line: the SKU's PO cost, or the transfer cost
    pack_size: np.ndarray  # [row] int >= 1
    shelf_life_days: np.ndarray  # [row] int, 0 = does not expire
    initial_on_hand: np.ndarray  # [row] int
    # lanes
    lane_from: tuple[str, ...]
    lane_to: tuple[str, ...]
    lane_capacity_per_day: np.ndarray  # [lane] float, inf = unlimited
    lane_cost_per_unit: np.ndarray
    lane_cost_per_shipment: np.ndarray
    lane_lead_time_mean: np.ndarray  # [lane] quoted mean lead time (what a deployment is told)
    # demand, true and realised
    demand: np.ndarray  # [day, row] int32, zero for DC rows
    demand_mean: np.ndarray  # [day, row] float32 TRUE mean (oracle only)
    demand_variance: np.ndarray  # [day, row] float32 TRUE variance (oracle only)
    promotion_active: np.ndarray  # [day, row] bool: the promotions calendar, an input to policies
    # lead times
    lead_time_pmf: np.ndarray  # [lane, max_days + 1] TRUE pmf of an order's lead time in normal times
    lead_time_factor: np.ndarray  # [day, supplier] TRUE multiplier in force for orders placed that day
    lead_time_draw: np.ndarray  # [day, row] realised lead time (days >= 1) of an order placed that day
    notice_factor: np.ndarray  # [day, supplier] announced lead-time factor (1 = no notice)
    notice_days_left: np.ndarray  # [day, supplier] days the announced disruption still lasts
    # transport modes, trucks and minimums per supply lane; empty = not used
    lane_truck_capacity: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [lane] units per truck
    lane_free_freight_units: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [lane] freight waived at
    lane_expedite_cost_per_unit: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [lane]
    lane_expedite_cost_per_shipment: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [lane]
    lane_expedite_lead_time_factor: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [lane] 0 = no mode
    row_min_order_qty: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [row] supplier MOQ per line
    # lateral lanes between stocking sites: transfers proposed by rebalancing
    lateral_from: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [lateral] site
    lateral_to: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lateral_cost_per_unit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lateral_cost_per_shipment: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lateral_capacity_per_day: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lateral_min_shipment: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lateral_transit_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # quoted mean transit days
    lateral_transit_draw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int32))  # [day, lat]
    backorders: bool = False
    seed: int = 0
    name: str = "world"
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.row_sku.shape[0])

    @property
    def n_days(self) -> int:
        return self.history_days + self.warmup_days + self.measured_days

    @property
    def first_decision_day(self) -> int:
        return self.history_days

    @property
    def first_measured_day(self) -> int:
        return self.history_days + self.warmup_days

    @property
    def max_lead_time(self) -> int:
        return int(max(self.lead_time_draw.max(initial=1), self.lateral_transit_draw.max(initial=1)))

    @property
    def n_laterals(self) -> int:
        return int(self.lateral_from.shape[0])

    @property
    def n_echelons(self) -> int:
        return int(self.row_echelon.max(initial=0)) + 1

    def row_label(self, row: int) -> str:
        return f"{self.sku_ids[self.row_sku[row]]}@{self.site_ids[self.row_site[row]]}"


def tile_spec(spec: WorldSpec, copies: int) -> WorldSpec:
    """``copies`` independent replicas of the network side by side, on the same realised path.

    Used by the hindsight search, which evaluates a grid of static policies in one vectorised run.
    Row ``r`` of copy ``c`` is row ``c * n_rows + r``; lanes are replicated too, so a lane's
    capacity is shared only within its own copy.
    """
    n_rows, n_lanes = spec.n_rows, len(spec.lane_from)
    offsets = np.repeat(np.arange(copies) * n_rows, n_rows)
    lane_offsets = np.repeat(np.arange(copies) * n_lanes, n_rows)
    parent = np.tile(spec.row_parent, copies)
    parent = np.where(parent >= 0, parent + offsets, -1)

    def per_row(values: np.ndarray) -> np.ndarray:
        return np.tile(values, copies)

    def per_day_row(values: np.ndarray) -> np.ndarray:
        return np.tile(values, (1, copies))

    return replace(
        spec,
        row_sku=per_row(spec.row_sku),
        row_site=per_row(spec.row_site),
        row_parent=parent,
        row_supplier=per_row(spec.row_supplier),
        row_lane=per_row(spec.row_lane) + lane_offsets,
        row_echelon=per_row(spec.row_echelon),
        unit_cost=per_row(spec.unit_cost),
        holding_cost_per_day=per_row(spec.holding_cost_per_day),
        lost_sale_penalty=per_row(spec.lost_sale_penalty),
        backorder_cost_per_day=per_row(spec.backorder_cost_per_day),
        order_cost=per_row(spec.order_cost),
        pack_size=per_row(spec.pack_size),
        shelf_life_days=per_row(spec.shelf_life_days),
        initial_on_hand=per_row(spec.initial_on_hand),
        lane_from=spec.lane_from * copies,
        lane_to=spec.lane_to * copies,
        lane_capacity_per_day=np.tile(spec.lane_capacity_per_day, copies),
        lane_cost_per_unit=np.tile(spec.lane_cost_per_unit, copies),
        lane_cost_per_shipment=np.tile(spec.lane_cost_per_shipment, copies),
        lane_lead_time_mean=np.tile(spec.lane_lead_time_mean, copies),
        lead_time_pmf=np.tile(spec.lead_time_pmf, (copies, 1)),
        demand=per_day_row(spec.demand),
        demand_mean=per_day_row(spec.demand_mean),
        demand_variance=per_day_row(spec.demand_variance),
        promotion_active=per_day_row(spec.promotion_active),
        lead_time_draw=per_day_row(spec.lead_time_draw),
        # the optional lane and row arrays are replicated; lateral lanes are left out
        # (the static policies searched on a tiled spec never transship)
        **{name: np.tile(getattr(spec, name), copies) for name in (
            "lane_truck_capacity", "lane_free_freight_units", "lane_expedite_cost_per_unit",
            "lane_expedite_cost_per_shipment", "lane_expedite_lead_time_factor", "row_min_order_qty")},
        **{name: getattr(spec, name)[:0] for name in (
            "lateral_from", "lateral_to", "lateral_cost_per_unit", "lateral_cost_per_shipment",
            "lateral_capacity_per_day", "lateral_min_shipment", "lateral_transit_mean")},
        lateral_transit_draw=spec.lateral_transit_draw[:, :0],
    )
