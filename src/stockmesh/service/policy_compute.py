"""Policies for every SKU x site in the ledger (``stockmesh policy compute``).

Inputs come from what the ledger knows: positions (the read model), demand per day (the latest
published forecast when there is one, else the mean and spread of the last ``window_days`` of
sales), lead times per supplier lane (learned from purchase-order receipts by the
SupplyChainAgent, shrunk towards ``default_lead_time_days``), unit cost and pack size (the SKU
registry). The numerics are ``planning.policies.compute_policies``, one vectorised call.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockmesh.agents.supply import SupplyChainAgent
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.forecasts import daily_demand
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.planning.policies import OrderConstraints, PolicyInputs, PolicyKind, compute_policies
from stockmesh.projections.stock_positions import positions

# What a site's demand is made of: sales to customers, and for a DC what it ships to its stores.
SALES = ("StockShipped", "ReservedStockShipped", "BackorderFilled", "TransferShippedOut")
KINDS = {"order-up-to": PolicyKind.ORDER_UP_TO, "ss": PolicyKind.S_S, "rq": PolicyKind.R_Q,
         "min-max": PolicyKind.MIN_MAX}


@dataclass(frozen=True)
class ComputeSettings:
    service_level: float = 0.95
    review_period_days: float = 1.0
    holding_rate_per_year: float = 0.25
    fixed_order_cost: float = 20.0
    default_lead_time_days: float = 7.0
    window_days: int = 56
    policy: str = "ss"
    as_of: str | None = None


def _history(store: EventStore, settings: ComputeSettings) -> tuple[dict[tuple[str, str], dict[str, float]],
                                                                     SupplyChainAgent, dict[str, dict[str, Any]]]:
    """One pass over the ledger: daily demand per SKU x site, lead times of orders and transfers
    (from placing to each receipt), SKU attributes."""
    sales: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    placed: dict[str, tuple[str, str, str]] = {}  # po stream -> (placed day, supplier, site)
    supply = SupplyChainAgent()
    skus: dict[str, dict[str, Any]] = {}
    last_day = ""
    for e in store.read_all():
        day = e.occurred_at[:10]
        if e.type == "SkuRegistered":  # master data holds whatever the as-of date
            data = codec.loads(e.data)
            skus[data["sku"]] = data
            continue
        if settings.as_of and day > settings.as_of:
            continue
        if e.type in SALES and e.stream_id.startswith("stock:"):
            last_day = max(last_day, day)  # the window ends with the latest demand seen
            body = e.stream_id[6:]
            sku, _, site = body.rpartition("@")
            sales[(sku, site)][day] += codec.loads(e.data)["qty"]
        elif e.type == "PurchaseOrderPlaced":
            data = codec.loads(e.data)
            placed[e.stream_id] = (day, data["supplier"], data["site"])
        elif e.type == "TransferDispatched":
            data = codec.loads(e.data)
            placed[e.stream_id] = (day, data["from_site"], data["to_site"])
        elif e.type in ("PurchaseOrderReceived", "TransferReceived") and e.stream_id in placed:
            day_placed, supplier, site = placed[e.stream_id]
            lead = (dt.date.fromisoformat(day) - dt.date.fromisoformat(day_placed)).days
            supply.observe_receipt(f"{supplier}->{site}", float(lead), on_time=True, in_full=True)
    window_end = settings.as_of or last_day
    demand: dict[tuple[str, str], dict[str, float]] = {}
    if window_end:
        end = dt.date.fromisoformat(window_end)
        days = [(end - dt.timedelta(days=k)).isoformat() for k in range(settings.window_days)]
        for key, per_day in sales.items():
            series = np.array([per_day.get(d, 0.0) for d in days])
            demand[key] = {"mean": float(series.mean()), "sd": float(series.std(ddof=1)) if len(series) > 1 else 0.0}
    return demand, supply, skus


def compute_for_ledger(store: EventStore, settings: ComputeSettings | None = None, *, sku: str | None = None,
                       site: str | None = None) -> list[dict[str, Any]]:
    """One row per SKU x site with its inputs, policy numbers and the order it calls for now."""
    settings = settings or ComputeSettings()
    if not 0 < settings.service_level < 1:
        raise InvalidInput("must be strictly between 0 and 1", field="service_level")
    if settings.policy not in KINDS:
        raise InvalidInput(f"must be one of {', '.join(KINDS)}", field="policy")
    rows = [r for r in positions(store, sku=sku, site=site)]
    if not rows:
        return []
    demand, supply, skus = _history(store, settings)
    try:
        from stockmesh.service.forecasting import latest_forecasts

        forecasts = {(f["sku"], f["site"]): f for f in latest_forecasts(store, sku=sku, site=site)}
    except ImportError:  # pragma: no cover - the forecasting service is part of the package
        forecasts = {}
    n = len(rows)
    mean, sd, source = np.zeros(n), np.zeros(n), []
    for i, r in enumerate(rows):
        f = forecasts.get((r["sku"], r["site"]))
        forecast_mean, forecast_sd = daily_demand(f)
        if f and forecast_mean is not None:
            mean[i] = forecast_mean
            sd[i] = max(forecast_sd or 0.0, np.sqrt(max(forecast_mean, 0.0)) * 0.5)
            source.append(f"forecast {f['forecast_id']} v{f['version']} ({f['model']})")
        else:
            d = demand.get((r["sku"], r["site"]), {"mean": 0.0, "sd": 0.0})
            mean[i], sd[i] = d["mean"], d["sd"]
            source.append(f"sales over the last {settings.window_days} days")
    lead = np.array([_lead_time(supply, r["site"], settings) for r in rows])
    unit_cost = np.array([float(skus.get(r["sku"], {}).get("unit_cost") or 0.0) for r in rows])
    pack = np.array([int(skus.get(r["sku"], {}).get("pack_size") or 1) for r in rows])
    holding = np.maximum(unit_cost * settings.holding_rate_per_year / 365.0, 1e-6)
    result = compute_policies(PolicyInputs(
        demand_mean=mean, demand_sd=np.maximum(sd, 1e-9), lead_time_mean=lead[:, 0], lead_time_sd=lead[:, 1],
        service_level=settings.service_level, review_period=settings.review_period_days,
        inventory_position=np.array([float(r["inventory_position"]) for r in rows]),
        policy=int(KINDS[settings.policy]), fixed_order_cost=settings.fixed_order_cost, holding_cost=holding,
        constraints=OrderConstraints(pack_size=pack)))
    out = []
    for i, r in enumerate(rows):
        out.append({"sku": r["sku"], "site": r["site"], "inventory_position": r["inventory_position"],
                    "demand_per_day": round(float(mean[i]), 4), "demand_sd": round(float(sd[i]), 4),
                    "demand_source": source[i], "lead_time_days": round(float(lead[i, 0]), 2),
                    "safety_stock": round(float(result.safety_stock[i]), 2),
                    "reorder_point": round(float(result.reorder_point[i]), 2),
                    "order_up_to": round(float(result.order_up_to_level[i]), 2),
                    "order_quantity": int(result.order_quantity[i]), "explain": result.explain(i)})
    return out


def _lead_time(supply: SupplyChainAgent, site: str, settings: ComputeSettings) -> tuple[float, float]:
    lanes = [lane for lane in supply.lanes if lane.endswith(f"->{site}")]
    if not lanes:
        return settings.default_lead_time_days, 0.25 * settings.default_lead_time_days
    means = [supply.lead_time(lane, settings.default_lead_time_days) for lane in lanes]
    return float(np.mean([m for m, _ in means])), float(np.mean([s for _, s in means]))
