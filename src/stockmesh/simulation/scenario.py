"""Scenario files: YAML in, a validated ``Scenario`` out. The schema is documented in docs/scenarios.md.

Validation is strict: an unknown key, a wrong type, an unknown site or an impossible network raises
``ScenarioError`` whose message starts with the path of the culprit, e.g.
``network.stores[3].supplied_by: unknown site 'DC-9'``. The shapes it builds are in
``scenario_types`` (imported here, so ``scenario.Scenario`` and the rest still name them).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from stockmesh.domain.errors import InvalidInput
from stockmesh.simulation.distributions import Distribution, parse_distribution
from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.policy_choice import parse_policy
from stockmesh.simulation.scenario_types import (
    Costs,
    DemandModel,
    DemandShock,
    ExpeditedMode,
    Horizon,
    Lane,
    Promotion,
    Promotions,
    Scenario,
    Skus,
    SkuSpec,
    StockingSite,
    Supplier,
    SupplierOutage,
)

# Bounds on what a scenario may ask for: beyond them a number is a typo (a draw of 10^25 units a
# day fails inside numpy; 10^8 SKUs would exhaust memory), not a network to simulate.
MAX_SKUS = 100_000
MAX_DAYS = 3_650
MAX_DAILY_UNITS = 10**6


# --------------------------------------------------------------------------- reading helpers
class _Node:
    """A mapping under validation: remembers its path and which keys were read."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ScenarioError(path or "(top level)", f"expected a mapping, got {type(value).__name__}")
        self.value: dict[str, Any] = value
        self.path = path

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.value:
            if key not in allowed:
                raise ScenarioError(self.sub(str(key)), f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def has(self, key: str) -> bool:
        return key in self.value and self.value[key] is not None

    def required(self, key: str) -> Any:
        if key not in self.value or self.value[key] is None:
            raise ScenarioError(self.sub(key), "is required")
        return self.value[key]

    def string(self, key: str, default: str | None = None) -> str:
        if key not in self.value or self.value[key] is None:
            if default is None:
                raise ScenarioError(self.sub(key), "is required")
            return default
        value = self.value[key]
        if not isinstance(value, str) or not value:
            raise ScenarioError(self.sub(key), f"expected a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: float | None = None, *, minimum: float | None = None,
               maximum: float | None = None) -> float:
        if key not in self.value or self.value[key] is None:
            if default is None:
                raise ScenarioError(self.sub(key), "is required")
            return default
        value = self.value[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(self.sub(key), f"expected a number, got {value!r}")
        if not math.isfinite(value):  # .nan passes every bound, and int(.inf) raises
            raise ScenarioError(self.sub(key), f"expected a finite number, got {value}")
        if minimum is not None and value < minimum:
            raise ScenarioError(self.sub(key), f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ScenarioError(self.sub(key), f"must be <= {maximum}, got {value}")
        return float(value)

    def integer(self, key: str, default: int | None = None, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        value = self.number(key, None if default is None else float(default), minimum=minimum, maximum=maximum)
        if value != int(value):
            raise ScenarioError(self.sub(key), f"expected a whole number, got {value}")
        return int(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.value.get(key, default)
        if not isinstance(value, bool):
            raise ScenarioError(self.sub(key), f"expected true or false, got {value!r}")
        return value

    def distribution(self, key: str, default: object = None, **bounds: float) -> Distribution:
        if key not in self.value or self.value[key] is None:
            if default is None:
                raise ScenarioError(self.sub(key), "is required")
            return parse_distribution(default, self.sub(key), **bounds)
        return parse_distribution(self.value[key], self.sub(key), **bounds)

    def items(self, key: str, *, required: bool = False) -> list[tuple[str, Any]]:
        value = self.value.get(key)
        if value is None:
            if required:
                raise ScenarioError(self.sub(key), "is required")
            return []
        if not isinstance(value, list):
            raise ScenarioError(self.sub(key), f"expected a list, got {type(value).__name__}")
        return [(f"{self.sub(key)}[{index}]", item) for index, item in enumerate(value)]

    def strings(self, key: str) -> tuple[str, ...] | None:
        """A list of ids, or the string ``all`` (returns None)."""
        value = self.value.get(key, "all")
        if value == "all":
            return None
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ScenarioError(self.sub(key), "expected 'all' or a list of ids")
        return tuple(value)


# --------------------------------------------------------------------------- the schema
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (the strict YAML loader: a key given twice, deep nesting,
    an absurd number or bytes that are not UTF-8 are errors naming the line)."""
    from stockmesh.governance.strict_yaml import load_yaml

    path = Path(path)
    try:
        raw = load_yaml(path.read_bytes())
    except FileNotFoundError as exc:
        raise ScenarioError("", f"no scenario file at {path}") from exc
    except OSError as exc:
        raise ScenarioError("", f"cannot read {path}: {exc.strerror}") from exc
    except InvalidInput as exc:
        where = f"line {exc.line}" if exc.line is not None else ""
        if exc.field is not None:
            where += f", key '{exc.field}'" if where else f"key '{exc.field}'"
        raise ScenarioError(where, exc.message) from exc
    return parse_scenario(raw, default_name=path.stem)


def parse_scenario(raw: object, *, default_name: str = "scenario") -> Scenario:
    """Validate an already-parsed YAML document."""
    top = _Node(raw, "")
    top.check_keys({"name", "description", "network", "skus", "demand", "costs", "horizon",
                    "disruptions", "seed", "policy", "initial_cover_days"})
    suppliers, dcs, stores, lanes = _parse_network(_Node(top.required("network"), "network"))
    supplier_ids = {s.id for s in suppliers}
    skus = _parse_skus(_Node(top.required("skus"), "skus"), supplier_ids)
    demand = _parse_demand(_Node(top.required("demand"), "demand"), skus)
    costs = _parse_costs(_Node(top.value.get("costs") or {}, "costs"))
    horizon = _parse_horizon(_Node(top.value.get("horizon") or {}, "horizon"))
    outages, shocks = _parse_disruptions(top, supplier_ids, {s.id for s in stores})
    try:
        policy = parse_policy(top.string("policy", "agents"))
    except ValueError as error:
        raise ScenarioError("policy", str(error)) from error
    scenario = Scenario(
        name=top.string("name", default_name),
        description=top.string("description", default_name),
        suppliers=suppliers, dcs=dcs, stores=stores, lanes=lanes, skus=skus, demand=demand,
        costs=costs, horizon=horizon, outages=outages, shocks=shocks,
        seed=top.integer("seed", 0, minimum=0), policy=policy,
        initial_cover_days=top.number("initial_cover_days", 14.0, minimum=0),
    )
    _check_supply_paths(scenario)
    return scenario


def _parse_network(net: _Node) -> tuple[tuple[Supplier, ...], tuple[StockingSite, ...],
                                        tuple[StockingSite, ...], tuple[Lane, ...]]:
    net.check_keys({"suppliers", "dcs", "stores", "lanes"})
    seen: dict[str, str] = {}

    def new_id(node: _Node) -> str:
        site_id = node.string("id")
        if site_id in seen:
            raise ScenarioError(node.sub("id"), f"duplicate site id '{site_id}' (first at {seen[site_id]})")
        seen[site_id] = node.path
        return site_id

    suppliers = []
    for path, item in net.items("suppliers", required=True):
        node = _Node(item, path)
        node.check_keys({"id", "lead_time", "reliability", "late_days", "min_order_qty"})
        suppliers.append(Supplier(
            id=new_id(node),
            lead_time=node.distribution("lead_time", minimum=1, maximum=365),
            reliability=node.number("reliability", 1.0, minimum=0, maximum=1),
            late_days=node.distribution("late_days", {"uniform": [1, 3]}, minimum=0, maximum=365),
            min_order_qty=node.integer("min_order_qty", 0, minimum=0),
        ))
    if not suppliers:
        raise ScenarioError("network.suppliers", "at least one supplier is needed")
    sites: dict[str, list[StockingSite]] = {"dc": [], "store": []}
    for kind, key in (("dc", "dcs"), ("store", "stores")):
        for path, item in net.items(key, required=(kind == "store")):
            node = _Node(item, path)
            node.check_keys({"id", "supplied_by", "demand_scale", "lost_sale_factor"} if kind == "store"
                            else {"id", "supplied_by"})
            sites[kind].append(StockingSite(
                id=new_id(node), kind=kind,
                supplied_by=node.string("supplied_by") if node.has("supplied_by") else None,
                demand_scale=node.number("demand_scale", 1.0, minimum=0) if kind == "store" else 1.0,
                lost_sale_factor=node.number("lost_sale_factor", 1.0, minimum=0) if kind == "store" else 1.0,
            ))
    if not sites["store"]:
        raise ScenarioError("network.stores", "at least one store is needed")
    # supplied_by must name a known site; checked here so the error names the right path
    for kind, key in (("dc", "dcs"), ("store", "stores")):
        for index, site in enumerate(sites[kind]):
            if site.supplied_by is not None and site.supplied_by not in seen:
                raise ScenarioError(f"network.{key}[{index}].supplied_by", f"unknown site '{site.supplied_by}'")
    store_ids = {s.id for s in sites["store"]}
    for kind, key in (("dc", "dcs"), ("store", "stores")):
        for index, site in enumerate(sites[kind]):
            if site.supplied_by in store_ids:
                raise ScenarioError(f"network.{key}[{index}].supplied_by",
                                    f"'{site.supplied_by}' is a store; stores do not supply other sites (no supply path)")
    lanes = []
    pairs: set[tuple[str, str]] = set()
    for path, item in net.items("lanes"):
        node = _Node(item, path)
        node.check_keys({"from", "to", "transit_time", "capacity_per_day", "cost_per_unit", "cost_per_shipment",
                         "capacity_per_shipment", "free_freight_units", "min_shipment", "expedited"})
        source, destination = node.string("from"), node.string("to")
        for key, site_id in (("from", source), ("to", destination)):
            if site_id not in seen:
                raise ScenarioError(node.sub(key), f"unknown site '{site_id}'")
        if (source, destination) in pairs:
            raise ScenarioError(path, f"duplicate lane {source} -> {destination}")
        pairs.add((source, destination))
        lanes.append(Lane(
            source=source, destination=destination,
            transit_time=node.distribution("transit_time", minimum=0, maximum=365) if node.has("transit_time") else None,
            capacity_per_day=node.number("capacity_per_day", float("inf"), minimum=0),
            cost_per_unit=node.number("cost_per_unit", 0.0, minimum=0),
            cost_per_shipment=node.number("cost_per_shipment", 0.0, minimum=0),
            **_parse_lane_extras(node),
        ))
    return tuple(suppliers), tuple(sites["dc"]), tuple(sites["store"]), tuple(lanes)


def _parse_lane_extras(node: _Node) -> dict[str, Any]:
    """The optional lane keys: trucks, free freight, minimum shipment, the expedited mode."""
    truck = node.number("capacity_per_shipment", float("inf"), minimum=1)
    minimum = node.number("min_shipment", 0.0, minimum=0)
    if minimum > truck or minimum > node.number("capacity_per_day", float("inf"), minimum=0):
        raise ScenarioError(node.sub("min_shipment"),
                            f"{minimum:g} is above the lane's capacity: the lane could never be used (infeasible lane)")
    expedited = None
    if node.has("expedited"):
        mode = _Node(node.value["expedited"], node.sub("expedited"))
        mode.check_keys({"lead_time_factor", "cost_per_unit", "cost_per_shipment"})
        factor = mode.number("lead_time_factor", minimum=0.01, maximum=1)
        expedited = ExpeditedMode(lead_time_factor=factor,
                                  cost_per_unit=mode.number("cost_per_unit", 0.0, minimum=0),
                                  cost_per_shipment=mode.number("cost_per_shipment", 0.0, minimum=0))
    return {"capacity_per_shipment": truck,
            "free_freight_units": node.number("free_freight_units", float("inf"), minimum=0),
            "min_shipment": minimum, "expedited": expedited}


def _sku_spec(node: _Node, defaults: SkuSpec | None, supplier_ids: set[str], listed: bool) -> SkuSpec:
    def dist(key: str, fallback: object, **bounds: float) -> Distribution:
        if node.has(key) or defaults is None:
            return node.distribution(key, fallback, **bounds)
        return getattr(defaults, key)

    supplier = node.string("supplier") if node.has("supplier") else (defaults.supplier if defaults else None)
    if supplier is not None and supplier not in supplier_ids:
        raise ScenarioError(node.sub("supplier"), f"unknown supplier '{supplier}'")
    shelf_life = None
    if node.has("shelf_life_days"):
        shelf_life = node.distribution("shelf_life_days", minimum=1, maximum=365)
    elif defaults is not None:
        shelf_life = defaults.shelf_life_days
    return SkuSpec(
        id=node.string("id") if listed else None,
        unit_cost=dist("unit_cost", None, minimum=0),
        fixed_order_cost=dist("fixed_order_cost", 0, minimum=0),
        lost_sale_margin_factor=dist("lost_sale_margin_factor", 1.0, minimum=0),
        pack_size=dist("pack_size", 1, minimum=1),
        shelf_life_days=shelf_life,
        supplier=supplier,
    )


def _parse_skus(node: _Node, supplier_ids: set[str]) -> Skus:
    keys = {"count", "id_prefix", "unit_cost", "fixed_order_cost", "lost_sale_margin_factor", "pack_size",
            "shelf_life_days", "perishable_share", "supplier", "list"}
    node.check_keys(keys)
    listed_items = node.items("list")
    generated = None
    count = 0
    if node.has("count"):
        count = node.integer("count", minimum=1, maximum=MAX_SKUS)
        generated = _sku_spec(node, None, supplier_ids, listed=False)
    elif not listed_items:
        raise ScenarioError("skus", "give either count (generated SKUs) or list (listed SKUs)")
    base = generated
    listed = []
    ids: set[str] = set()
    for path, item in listed_items:
        sku_node = _Node(item, path)
        sku_node.check_keys(keys - {"count", "id_prefix", "perishable_share", "list"} | {"id"})
        if base is None and not sku_node.has("unit_cost"):
            raise ScenarioError(sku_node.sub("unit_cost"), "is required")
        spec = _sku_spec(sku_node, base, supplier_ids, listed=True)
        if spec.id in ids:
            raise ScenarioError(sku_node.sub("id"), f"duplicate SKU id '{spec.id}'")
        ids.add(str(spec.id))
        listed.append(spec)
    return Skus(
        count=count, id_prefix=node.string("id_prefix", "SKU"), generated=generated, listed=tuple(listed),
        perishable_share=node.number("perishable_share", 1.0 if node.has("shelf_life_days") else 0.0,
                                     minimum=0, maximum=1),
    )


def _parse_demand(node: _Node, skus: Skus) -> DemandModel:
    node.check_keys({"level", "dispersion", "weekly_profile", "annual_seasonality", "trend_per_year",
                     "zero_share", "promotions"})
    weekly = node.value.get("weekly_profile", [1.0] * 7)
    if not (isinstance(weekly, list) and len(weekly) == 7 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in weekly)):
        raise ScenarioError(node.sub("weekly_profile"), "expected 7 non-negative numbers, Monday first")
    if sum(weekly) <= 0:
        raise ScenarioError(node.sub("weekly_profile"), "at least one day must have demand")
    season = _Node(node.value.get("annual_seasonality") or {}, node.sub("annual_seasonality"))
    season.check_keys({"amplitude", "peak_day_of_year"})
    promotions = _parse_promotions(_Node(node.value.get("promotions") or {}, node.sub("promotions")), skus)
    return DemandModel(
        level=node.distribution("level", minimum=0, maximum=MAX_DAILY_UNITS),
        dispersion=node.distribution("dispersion", 5.0, minimum=0.01),
        weekly_profile=tuple(float(v) for v in weekly),
        seasonality_amplitude=season.distribution("amplitude", 0.0, minimum=0, maximum=0.95),
        seasonality_peak_day_of_year=season.integer("peak_day_of_year", 1, minimum=1),
        trend_per_year=node.distribution("trend_per_year", 0.0, minimum=-0.9),
        zero_share=node.distribution("zero_share", 0.0, minimum=0, maximum=0.99),
        promotions=promotions,
    )


def _parse_promotions(node: _Node, skus: Skus) -> Promotions:
    node.check_keys({"share_of_skus", "per_sku", "duration_days", "uplift", "calendar"})
    listed_ids = {s.id for s in skus.listed}
    calendar = []
    for path, item in node.items("calendar"):
        entry = _Node(item, path)
        entry.check_keys({"sku", "start_day", "days", "uplift", "stores"})
        sku = entry.string("sku")
        if listed_ids and sku not in listed_ids and not skus.count:
            raise ScenarioError(entry.sub("sku"), f"unknown SKU '{sku}'")
        calendar.append(Promotion(
            sku=sku, start_day=entry.integer("start_day"), days=entry.integer("days", 7, minimum=1),
            uplift=entry.number("uplift", minimum=0), stores=entry.strings("stores"),
        ))
    return Promotions(
        share_of_skus=node.number("share_of_skus", 0.0, minimum=0, maximum=1),
        per_sku=node.number("per_sku", 0.0, minimum=0),
        duration_days=node.integer("duration_days", 7, minimum=1),
        uplift=node.distribution("uplift", {"uniform": [2, 3]}, minimum=0),
        calendar=tuple(calendar),
    )


def _parse_costs(node: _Node) -> Costs:
    node.check_keys({"holding_rate_per_year", "unmet_demand", "backorder_cost_per_unit_day", "transfer_order_cost",
                     "lost_sale_penalty"})
    unmet = node.string("unmet_demand", "lost-sales")
    if unmet not in ("lost-sales", "backorders"):
        raise ScenarioError(node.sub("unmet_demand"), f"expected lost-sales or backorders, got '{unmet}'")
    if node.has("lost_sale_penalty") and node.value["lost_sale_penalty"] != "margin":
        raise ScenarioError(node.sub("lost_sale_penalty"), "only 'margin' (the SKU's unit margin) is supported")
    return Costs(
        holding_rate_per_year=node.number("holding_rate_per_year", 0.25, minimum=0),
        unmet_demand=unmet,
        backorder_cost_per_unit_day=node.number("backorder_cost_per_unit_day", 0.02, minimum=0),
        transfer_order_cost=node.number("transfer_order_cost", 1.0, minimum=0),
    )


def _parse_horizon(node: _Node) -> Horizon:
    node.check_keys({"history_days", "warmup_days", "measured_days", "start_date"})
    start = node.value.get("start_date", dt.date(2024, 1, 1))
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise ScenarioError(node.sub("start_date"), f"expected YYYY-MM-DD, got '{start}'") from exc
    if not isinstance(start, dt.date):
        raise ScenarioError(node.sub("start_date"), "expected a date YYYY-MM-DD")
    return Horizon(
        history_days=node.integer("history_days", 56, minimum=0, maximum=MAX_DAYS),
        warmup_days=node.integer("warmup_days", 56, minimum=0, maximum=MAX_DAYS),
        measured_days=node.integer("measured_days", 180, minimum=1, maximum=MAX_DAYS),
        start_date=start,
    )


def _parse_disruptions(top: _Node, supplier_ids: set[str], store_ids: set[str]) -> tuple[
        tuple[SupplierOutage, ...], tuple[DemandShock, ...]]:
    outages, shocks = [], []
    for path, item in top.items("disruptions"):
        node = _Node(item, path)
        kind = node.string("type")
        if kind == "supplier-outage":
            node.check_keys({"type", "suppliers", "start_day", "days", "lead_time_factor", "announced"})
            chosen = node.strings("suppliers")
            for supplier in chosen or ():
                if supplier not in supplier_ids:
                    raise ScenarioError(node.sub("suppliers"), f"unknown supplier '{supplier}'")
            outages.append(SupplierOutage(
                suppliers=chosen or tuple(sorted(supplier_ids)), start_day=node.integer("start_day"),
                days=node.integer("days", minimum=1),
                lead_time_factor=node.number("lead_time_factor", minimum=0.1),
                announced=node.boolean("announced", True),
            ))
        elif kind == "demand-shock":
            node.check_keys({"type", "stores", "skus", "start_day", "days", "factor"})
            chosen = node.strings("stores")
            for store in chosen or ():
                if store not in store_ids:
                    raise ScenarioError(node.sub("stores"), f"unknown store '{store}'")
            shocks.append(DemandShock(
                stores=chosen or tuple(sorted(store_ids)), skus=node.strings("skus"),
                start_day=node.integer("start_day"), days=node.integer("days", minimum=1),
                factor=node.number("factor", minimum=0),
            ))
        else:
            raise ScenarioError(node.sub("type"), f"unknown disruption '{kind}'; expected supplier-outage or demand-shock")
    return tuple(outages), tuple(shocks)


def _check_supply_paths(scenario: Scenario) -> None:
    """Every stocking site must reach a supplier through ``supplied_by``, without a cycle."""
    supplier_ids = {s.id for s in scenario.suppliers}
    by_id = {s.id: s for s in scenario.stocking_sites}
    for key, group in (("dcs", scenario.dcs), ("stores", scenario.stores)):
        for index, site in enumerate(group):
            chain = [site.id]
            current = site
            while True:
                source = current.supplied_by
                if source is None or source in supplier_ids:
                    break
                if source in chain:
                    loop = " -> ".join([*chain[chain.index(source):], source])
                    raise ScenarioError(f"network.{key}[{index}].supplied_by", f"supply cycle {loop}")
                chain.append(source)
                current = by_id[source]
