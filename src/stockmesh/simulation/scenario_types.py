"""What a validated scenario holds: the network (suppliers, stocking sites, lanes), the SKUs, the
demand model, costs, horizon and disruptions. ``scenario.parse_scenario`` builds them from YAML,
checking every field; ``build.build_world`` turns them into arrays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from stockmesh.simulation.distributions import Distribution
from stockmesh.simulation.policy_choice import PolicyChoice


@dataclass(frozen=True)
class Supplier:
    """An outside source: no stock of its own, a lead time per order, some unreliability."""

    id: str
    lead_time: Distribution
    reliability: float = 1.0
    late_days: Distribution = field(default_factory=lambda: Distribution("uniform", low=1, high=3))
    min_order_qty: int = 0  # units per order line


@dataclass(frozen=True)
class StockingSite:
    """A DC or a store. ``supplied_by`` is a supplier or DC id, or None for each SKU's own supplier."""

    id: str
    kind: str  # "dc" | "store"
    supplied_by: str | None
    demand_scale: float = 1.0
    lost_sale_factor: float = 1.0  # a store's priority: its lost sale costs this x the unit margin


@dataclass(frozen=True)
class Lane:
    """A transport link. Lead time of an order = supplier lead time (if any) + lane transit time."""

    source: str
    destination: str
    transit_time: Distribution | None = None
    capacity_per_day: float = float("inf")
    cost_per_unit: float = 0.0
    cost_per_shipment: float = 0.0
    # trucks, free freight, minimum lateral shipment, an expedited mode (all inert by default)
    capacity_per_shipment: float = float("inf")
    free_freight_units: float = float("inf")
    min_shipment: float = 0.0
    expedited: ExpeditedMode | None = None


@dataclass(frozen=True)
class ExpeditedMode:
    """A faster, dearer way to ship on a lane: lead time x ``lead_time_factor``, its own costs."""

    lead_time_factor: float
    cost_per_unit: float = 0.0
    cost_per_shipment: float = 0.0


@dataclass(frozen=True)
class SkuSpec:
    """One listed SKU, or the distributions SKUs are generated from (``count`` of them)."""

    id: str | None
    unit_cost: Distribution
    fixed_order_cost: Distribution
    lost_sale_margin_factor: Distribution
    pack_size: Distribution
    shelf_life_days: Distribution | None
    supplier: str | None


@dataclass(frozen=True)
class Skus:
    count: int
    id_prefix: str
    generated: SkuSpec | None
    listed: tuple[SkuSpec, ...]
    perishable_share: float


@dataclass(frozen=True)
class Promotion:
    sku: str | None  # None: drawn at random
    start_day: int
    days: int
    uplift: float
    stores: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Promotions:
    share_of_skus: float = 0.0
    per_sku: float = 0.0
    duration_days: int = 7
    uplift: Distribution = field(default_factory=lambda: Distribution("uniform", low=2, high=3))
    calendar: tuple[Promotion, ...] = ()


@dataclass(frozen=True)
class DemandModel:
    """Negative-binomial daily demand per store x SKU (variance = mean + mean^2 / dispersion)."""

    level: Distribution
    dispersion: Distribution
    weekly_profile: tuple[float, ...]
    seasonality_amplitude: Distribution
    seasonality_peak_day_of_year: int
    trend_per_year: Distribution
    zero_share: Distribution
    promotions: Promotions


@dataclass(frozen=True)
class Costs:
    holding_rate_per_year: float = 0.25
    unmet_demand: str = "lost-sales"  # or "backorders"
    backorder_cost_per_unit_day: float = 0.02  # as a fraction of unit cost, backorders mode only
    transfer_order_cost: float = 1.0  # fixed cost of a DC -> site transfer line


@dataclass(frozen=True)
class Horizon:
    history_days: int = 56
    warmup_days: int = 56
    measured_days: int = 180
    start_date: dt.date = dt.date(2024, 1, 1)  # the first warm-up day (day 0)


@dataclass(frozen=True)
class SupplierOutage:
    suppliers: tuple[str, ...]
    start_day: int
    days: int
    lead_time_factor: float
    announced: bool


@dataclass(frozen=True)
class DemandShock:
    stores: tuple[str, ...]
    skus: tuple[str, ...] | None  # None = all
    start_day: int
    days: int
    factor: float


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; ``build_world(scenario, seed)`` turns it into arrays."""

    name: str
    description: str
    suppliers: tuple[Supplier, ...]
    dcs: tuple[StockingSite, ...]
    stores: tuple[StockingSite, ...]
    lanes: tuple[Lane, ...]
    skus: Skus
    demand: DemandModel
    costs: Costs
    horizon: Horizon
    outages: tuple[SupplierOutage, ...]
    shocks: tuple[DemandShock, ...]
    seed: int
    policy: PolicyChoice  # the ``policy`` key's name, parsed (policy_choice.py)
    initial_cover_days: float

    @property
    def stocking_sites(self) -> tuple[StockingSite, ...]:
        return self.dcs + self.stores
