"""KPIs of a run, network-wide, per site and per SKU class, from the world's measured-day totals.

Definitions (measured days only; store rows for service, all rows for stock and cost):

- fill rate (units): demand served from stock on the day it occurs / demand;
- cycle service level: share of replenishment cycles (receipt to receipt, per SKU x store) with
  no stock-out;
- stock-out days: SKU x store days with unmet demand;
- lost sales: units not served (backordered units in backorders mode);
- average on hand: units at the end of the day, summed over rows, averaged over days;
- costs: holding (end-of-day on hand x unit cost x rate / 365), ordering (fixed cost per order
  line: the SKU's PO cost, or the transfer cost for DC -> store lines), transport (per unit and
  per shipment, a shipment being one lane on one day), stock-out (lost units x unit margin, or
  backordered unit-days x backorder rate), expiry (expired units x unit cost); total = their sum;
- inventory turns: cost of goods sold over the average inventory value, annualised;
- bullwhip per echelon: variance of the echelon's total daily orders over the variance of the
  total daily demand it faced (customer demand for stores, store requests for DCs);
- SKU classes: A/B/C by share of measured demand value (A: top 80 %, B: next 15 %, C: rest).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.adapters.simulated.world import RunTotals, SimulatedWorld

COST_PARTS = ("holding_cost", "ordering_cost", "transport_cost", "stockout_cost", "expiry_cost")


def summarise(totals: RunTotals, spec: WorldSpec, rows: np.ndarray) -> dict[str, float]:
    """The KPIs of a subset of rows (store service measures use the store rows among them)."""
    days = spec.measured_days
    stores = rows[spec.row_echelon[rows] == 0]
    demand = totals.demand[stores].sum()
    sales = totals.sales[stores].sum()
    cycles = totals.cycles[stores].sum()
    on_hand_value = (totals.on_hand_sum[rows] * spec.unit_cost[rows]).sum() / days
    cost_of_goods = (totals.sales[stores] * spec.unit_cost[stores]).sum()
    result = {
        "fill_rate": float(sales / demand) if demand else 1.0,
        "cycle_service_level": float(1 - totals.cycles_with_stockout[stores].sum() / cycles) if cycles else 1.0,
        "stockout_days": float(totals.stockout_days[stores].sum()),
        "lost_sales_units": float(totals.short[stores].sum()),
        "demand_units": float(demand),
        "sales_units": float(sales),
        "avg_on_hand": float(totals.on_hand_sum[rows].sum() / days),
        "avg_on_hand_value": float(on_hand_value),
        "order_lines": float(totals.order_lines[rows].sum()),
        "expired_units": float(totals.expired_units[rows].sum()),
        "turns": float(cost_of_goods / on_hand_value * 365 / days) if on_hand_value else 0.0,
    }
    for part in COST_PARTS:
        result[part] = float(getattr(totals, part)[rows].sum())
    result["total_cost"] = float(sum(result[part] for part in COST_PARTS))
    return result


def echelon_name(echelon: int) -> str:
    return "stores" if echelon == 0 else ("dcs" if echelon == 1 else f"dcs_{echelon}")


def bullwhip(world: SimulatedWorld) -> dict[str, float]:
    ratios = {}
    for echelon in range(world.spec.n_echelons):
        demand_variance = world.echelon_demand[:, echelon].var()
        orders_variance = world.echelon_orders[:, echelon].var()
        ratios[echelon_name(echelon)] = float(orders_variance / demand_variance) if demand_variance else 0.0
    return ratios


def sku_classes(totals: RunTotals, spec: WorldSpec) -> np.ndarray:
    """A/B/C class per SKU (0, 1, 2) by measured demand value across stores."""
    value = np.bincount(spec.row_sku, weights=totals.demand * spec.unit_cost, minlength=len(spec.sku_ids))
    order = np.argsort(-value)
    share = np.cumsum(value[order]) / max(value.sum(), 1e-12)
    classes = np.empty(len(spec.sku_ids), dtype=np.int64)
    classes[order] = np.where(share <= 0.8, 0, np.where(share <= 0.95, 1, 2))
    classes[order[0]] = 0
    return classes


def compute_kpis(world: SimulatedWorld) -> dict[str, Any]:
    """Everything reported for a run: network KPIs, bullwhip, per site and per SKU class."""
    spec, totals = world.spec, world.totals
    all_rows = np.arange(spec.n_rows)
    kpis: dict[str, Any] = summarise(totals, spec, all_rows)
    kpis["bullwhip"] = bullwhip(world)
    kpis["per_site"] = {
        site: summarise(totals, spec, np.flatnonzero(spec.row_site == index))
        for index, site in enumerate(spec.site_ids)
    }
    classes = sku_classes(totals, spec)[spec.row_sku]
    kpis["per_class"] = {
        name: summarise(totals, spec, np.flatnonzero(classes == index))
        for index, name in enumerate("ABC")
        if (classes == index).any()
    }
    return kpis
