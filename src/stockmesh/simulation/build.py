"""Scenario + seed -> ``WorldSpec``: SKUs, demand paths, promotions, lead times, all as arrays.

Each kind of randomness has its own child stream of the seed, so, for instance, changing the
promotions leaves the SKUs' costs unchanged. Day 0 of a scenario is the first warm-up day; history
days are negative. Absolute day indices in the spec start at the first history day.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.simulation.distributions import Distribution
from stockmesh.simulation.errors import ScenarioError
from stockmesh.simulation.scenario import Scenario

STREAMS = ("skus", "demand_parameters", "promotions", "demand", "lead_times")


def build_world(scenario: Scenario, seed: int | None = None) -> WorldSpec:
    """Draw one world from ``scenario``; ``seed`` overrides the scenario's own."""
    seed = scenario.seed if seed is None else seed
    streams = dict(zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STREAMS))),
                       strict=True))
    horizon = scenario.horizon
    n_days = horizon.history_days + horizon.warmup_days + horizon.measured_days
    dates = [horizon.start_date + dt.timedelta(days=day - horizon.history_days) for day in range(n_days)]
    weekday = np.array([d.weekday() for d in dates])
    day_of_year = np.array([d.timetuple().tm_yday for d in dates])

    sku = _draw_skus(scenario, streams["skus"])
    n_skus = len(sku["ids"])
    sites = scenario.stocking_sites
    site_index = {s.id: i for i, s in enumerate(sites)}
    supplier_index = {s.id: i for i, s in enumerate(scenario.suppliers)}
    n_sites = len(sites)
    n_rows = n_sites * n_skus
    row_site = np.repeat(np.arange(n_sites), n_skus)
    row_sku = np.tile(np.arange(n_skus), n_sites)
    site_is_store = np.array([s.kind == "store" for s in sites])

    # supply structure
    row_parent = np.full(n_rows, -1)
    row_supplier = np.full(n_rows, -1)
    row_source: list[str] = []
    for row in range(n_rows):
        site = sites[row_site[row]]
        source = site.supplied_by
        if source is None:
            source = sku["supplier"][row_sku[row]]
        if source in supplier_index:
            row_supplier[row] = supplier_index[source]
        else:
            row_parent[row] = site_index[source] * n_skus + row_sku[row]
        row_source.append(source)
    site_echelon = _echelons(scenario)
    row_echelon = np.array([site_echelon[sites[s].id] for s in row_site])

    # lanes: one per (source, destination) pair in use
    declared = {(lane.source, lane.destination): lane for lane in scenario.lanes}
    suppliers = {s.id: s for s in scenario.suppliers}
    lane_keys: dict[tuple[str, str], int] = {}
    row_lane = np.empty(n_rows, dtype=np.int64)
    for row in range(n_rows):
        key = (row_source[row], sites[row_site[row]].id)
        row_lane[row] = lane_keys.setdefault(key, len(lane_keys))
    pmfs, capacity, cost_unit, cost_shipment = [], [], [], []
    extras: dict[str, list[float]] = {k: [] for k in ("truck", "free", "x_unit", "x_ship", "x_factor")}
    for source, destination in lane_keys:
        lane = declared.get((source, destination))
        mode = lane.expedited if lane is not None else None
        extras["truck"].append(lane.capacity_per_shipment if lane else np.inf)
        extras["free"].append(lane.free_freight_units if lane else np.inf)
        extras["x_unit"].append(mode.cost_per_unit if mode else 0.0)
        extras["x_ship"].append(mode.cost_per_shipment if mode else 0.0)
        extras["x_factor"].append(mode.lead_time_factor if mode else 0.0)
        if source in suppliers:
            supplier = suppliers[source]
            pmf = supplier.lead_time.day_pmf(minimum_days=1)
            if supplier.reliability < 1:
                late = np.convolve(pmf, supplier.late_days.day_pmf(minimum_days=0))
                pmf = np.pad(pmf, (0, late.size - pmf.size))
                pmf = supplier.reliability * pmf + (1 - supplier.reliability) * late
            if lane is not None and lane.transit_time is not None:
                pmf = np.convolve(pmf, lane.transit_time.day_pmf(minimum_days=0))
        else:
            transit = lane.transit_time if lane is not None and lane.transit_time is not None else Distribution(
                "fixed", mean=1)
            pmf = transit.day_pmf(minimum_days=1)
        pmfs.append(pmf)
        capacity.append(lane.capacity_per_day if lane else np.inf)
        cost_unit.append(lane.cost_per_unit if lane else 0.0)
        cost_shipment.append(lane.cost_per_shipment if lane else 0.0)
    max_days = max(p.size for p in pmfs)
    lead_time_pmf = np.array([np.pad(p, (0, max_days - p.size)) for p in pmfs])
    lane_mean = lead_time_pmf @ np.arange(max_days)

    # demand
    store_rows = np.flatnonzero(site_is_store[row_site])
    mean, variance, promotion_active = _demand_means(
        scenario, streams, sku["ids"], store_rows, row_site, row_sku, n_rows, weekday, day_of_year)
    demand = _realise_demand(streams["demand"], mean, variance["zero_share"], variance["dispersion"])

    # lead times per order day, with outages
    n_suppliers = len(scenario.suppliers)
    factor = np.ones((n_days, n_suppliers))
    notice_factor = np.ones((n_days, n_suppliers))
    notice_days_left = np.zeros((n_days, n_suppliers), dtype=np.int64)
    for outage in scenario.outages:
        start = horizon.history_days + outage.start_day
        stop = min(start + outage.days, n_days)
        start = max(start, 0)
        for supplier_id in outage.suppliers:
            s = supplier_index[supplier_id]
            factor[start:stop, s] = outage.lead_time_factor
            if outage.announced:
                notice_factor[start:stop, s] = outage.lead_time_factor
                notice_days_left[start:stop, s] = np.arange(stop - start, 0, -1)
    lead_time_draw = np.empty((n_days, n_rows), dtype=np.int32)
    uniforms = streams["lead_times"].random((n_days, n_rows))
    cdfs = np.cumsum(lead_time_pmf, axis=1)
    for lane in range(len(lane_keys)):
        cols = np.flatnonzero(row_lane == lane)
        lead_time_draw[:, cols] = np.searchsorted(cdfs[lane], uniforms[:, cols] * cdfs[lane, -1], side="right")
    lead_time_draw = np.maximum(lead_time_draw, 1)
    has_supplier = row_supplier >= 0
    if scenario.outages:
        row_factor = factor[:, np.where(has_supplier, row_supplier, 0)]
        row_factor[:, ~has_supplier] = 1.0
        lead_time_draw = np.ceil(lead_time_draw * row_factor).astype(np.int32)

    # economics
    unit_cost = sku["unit_cost"][row_sku]
    costs = scenario.costs
    order_cost = np.where(row_parent >= 0, costs.transfer_order_cost, sku["fixed_order_cost"][row_sku])
    average_demand = mean[: max(horizon.history_days, 1)].mean(axis=0)
    for echelon in range(1, int(row_echelon.max(initial=0)) + 1):
        children = np.flatnonzero((row_echelon == echelon - 1) & (row_parent >= 0))
        average_demand += np.bincount(row_parent[children], weights=average_demand[children], minlength=n_rows)
    initial = np.ceil(average_demand * scenario.initial_cover_days).astype(np.int64)

    minimum_order = np.array([suppliers[scenario.suppliers[s].id].min_order_qty if s >= 0 else 0
                              for s in row_supplier], dtype=np.int64)
    lateral = _lateral_lanes(scenario, set(lane_keys), site_index, seed, n_days)

    return WorldSpec(
        history_days=horizon.history_days, warmup_days=horizon.warmup_days, measured_days=horizon.measured_days,
        weekday=weekday,
        site_ids=tuple(s.id for s in sites), site_is_store=site_is_store, sku_ids=tuple(sku["ids"]),
        supplier_ids=tuple(s.id for s in scenario.suppliers),
        row_sku=row_sku, row_site=row_site, row_parent=row_parent, row_supplier=row_supplier, row_lane=row_lane,
        row_echelon=row_echelon,
        unit_cost=unit_cost,
        holding_cost_per_day=costs.holding_rate_per_year * unit_cost / 365.0,
        lost_sale_penalty=sku["margin_factor"][row_sku] * unit_cost
        * np.array([s.lost_sale_factor for s in sites])[row_site],
        backorder_cost_per_day=costs.backorder_cost_per_unit_day * unit_cost,
        order_cost=order_cost,
        pack_size=sku["pack_size"][row_sku],
        shelf_life_days=sku["shelf_life"][row_sku],
        initial_on_hand=initial,
        lane_from=tuple(k[0] for k in lane_keys), lane_to=tuple(k[1] for k in lane_keys),
        lane_capacity_per_day=np.array(capacity, dtype=np.float64),
        lane_cost_per_unit=np.array(cost_unit), lane_cost_per_shipment=np.array(cost_shipment),
        lane_lead_time_mean=lane_mean,
        demand=demand, demand_mean=mean.astype(np.float32), demand_variance=variance["daily"].astype(np.float32),
        promotion_active=promotion_active,
        lead_time_pmf=lead_time_pmf, lead_time_factor=factor, lead_time_draw=lead_time_draw,
        notice_factor=notice_factor, notice_days_left=notice_days_left,
        lane_truck_capacity=np.array(extras["truck"], dtype=np.float64),
        lane_free_freight_units=np.array(extras["free"], dtype=np.float64),
        lane_expedite_cost_per_unit=np.array(extras["x_unit"], dtype=np.float64),
        lane_expedite_cost_per_shipment=np.array(extras["x_ship"], dtype=np.float64),
        lane_expedite_lead_time_factor=np.array(extras["x_factor"], dtype=np.float64),
        row_min_order_qty=minimum_order,
        **lateral,
        backorders=costs.unmet_demand == "backorders", seed=seed, name=scenario.name,
        meta={"dates": dates, "zero_share": variance["zero_share"], "dispersion": variance["dispersion"]},
    )


def _lateral_lanes(scenario: Scenario, supply: set[tuple[str, str]], site_index: dict[str, int], seed: int,
                   n_days: int) -> dict[str, np.ndarray]:
    """Declared lanes between two stocking sites that no ``supplied_by`` uses: rebalancing lanes.

    Their transit times are drawn per day from a child stream of the seed of their own (the one after
    ``STREAMS``), so adding lateral lanes leaves every other draw of the world unchanged.
    """
    lanes = [lane for lane in scenario.lanes if (lane.source, lane.destination) not in supply
             and lane.source in site_index and lane.destination in site_index]
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(len(STREAMS) + 1)[-1])
    draws = np.ones((n_days, len(lanes)), dtype=np.int32)
    means = np.ones(len(lanes))
    for index, lane in enumerate(lanes):
        transit = lane.transit_time or Distribution("fixed", mean=1)
        pmf = transit.day_pmf(minimum_days=1)
        cdf = np.cumsum(pmf)
        draws[:, index] = np.maximum(np.searchsorted(cdf, rng.random(n_days) * cdf[-1], side="right"), 1)
        means[index] = float(pmf @ np.arange(pmf.size))
    return {
        "lateral_from": np.array([site_index[lane.source] for lane in lanes], dtype=np.int64),
        "lateral_to": np.array([site_index[lane.destination] for lane in lanes], dtype=np.int64),
        "lateral_cost_per_unit": np.array([lane.cost_per_unit for lane in lanes], dtype=np.float64),
        "lateral_cost_per_shipment": np.array([lane.cost_per_shipment for lane in lanes], dtype=np.float64),
        "lateral_capacity_per_day": np.array([min(lane.capacity_per_day, lane.capacity_per_shipment)
                                              for lane in lanes], dtype=np.float64),
        "lateral_min_shipment": np.array([lane.min_shipment for lane in lanes], dtype=np.float64),
        "lateral_transit_mean": means,
        "lateral_transit_draw": draws,
    }


def _draw_skus(scenario: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray | list[str]]:
    skus = scenario.skus
    specs = list(skus.listed)
    ids = [str(s.id) for s in specs]
    width = max(4, len(str(skus.count)))
    ids += [f"{skus.id_prefix}-{i + 1:0{width}d}" for i in range(skus.count)]
    n = len(ids)
    supplier_ids = [s.id for s in scenario.suppliers]

    def column(attribute: str) -> np.ndarray:
        values = np.empty(n)
        for i, spec in enumerate(specs):
            values[i] = getattr(spec, attribute).sample(rng, 1)[0]
        if skus.count and skus.generated is not None:
            values[len(specs):] = getattr(skus.generated, attribute).sample(rng, skus.count)
        return values

    shelf_life = np.zeros(n, dtype=np.int64)
    for i, spec in enumerate(specs):
        if spec.shelf_life_days is not None:
            shelf_life[i] = max(1, round(spec.shelf_life_days.sample(rng, 1)[0]))
    if skus.count and skus.generated is not None and skus.generated.shelf_life_days is not None:
        perishable = rng.random(skus.count) < skus.perishable_share
        drawn = np.maximum(1, np.rint(skus.generated.shelf_life_days.sample(rng, skus.count))).astype(np.int64)
        shelf_life[len(specs):] = np.where(perishable, drawn, 0)
    supplier = [s.supplier for s in specs] + [
        (skus.generated.supplier if skus.generated and skus.generated.supplier else None) for _ in range(skus.count)
    ]
    # SKUs without a named supplier are spread over the suppliers in turn
    supplier = [s if s is not None else supplier_ids[i % len(supplier_ids)] for i, s in enumerate(supplier)]
    return {
        "ids": ids,
        "unit_cost": column("unit_cost"),
        "fixed_order_cost": column("fixed_order_cost"),
        "margin_factor": column("lost_sale_margin_factor"),
        "pack_size": np.maximum(1, np.rint(column("pack_size"))).astype(np.int64),
        "shelf_life": shelf_life,
        "supplier": supplier,
    }


def _echelons(scenario: Scenario) -> dict[str, int]:
    """Stores are echelon 0; a DC sits one above the highest site it supplies (1 if it supplies none)."""
    echelon = {s.id: 0 for s in scenario.stores}
    for dc in scenario.dcs:
        echelon[dc.id] = 1
    changed = True
    while changed:
        changed = False
        for site in scenario.stocking_sites:
            source = site.supplied_by
            if source in echelon and source not in {s.id for s in scenario.stores}:
                wanted = echelon[site.id] + 1
                if echelon[source] < wanted:
                    echelon[source] = wanted
                    changed = True
    return echelon


def _demand_means(scenario: Scenario, streams: dict[str, np.random.Generator], sku_ids: list[str],
                  store_rows: np.ndarray, row_site: np.ndarray, row_sku: np.ndarray, n_rows: int,
                  weekday: np.ndarray, day_of_year: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    model = scenario.demand
    rng = streams["demand_parameters"]
    n_days = weekday.size
    history = scenario.horizon.history_days
    n_store_rows = store_rows.size
    sites = scenario.stocking_sites
    scale = np.array([sites[s].demand_scale for s in row_site[store_rows]])
    level = model.level.sample(rng, n_store_rows) * scale
    dispersion = np.maximum(model.dispersion.sample(rng, n_store_rows), 0.01)
    amplitude = model.seasonality_amplitude.sample(rng, n_store_rows)
    trend = model.trend_per_year.sample(rng, n_store_rows)
    zero_share = np.clip(model.zero_share.sample(rng, n_store_rows), 0, 0.99)
    weekly = np.asarray(model.weekly_profile)
    weekly = weekly / weekly.mean()
    years = (np.arange(n_days) - history) / 365.0
    season = 1 + amplitude[None, :] * np.cos(
        2 * np.pi * (day_of_year[:, None] - model.seasonality_peak_day_of_year) / 365.25)
    growth = np.power(1 + trend[None, :], years[:, None])
    store_mean = level[None, :] * weekly[weekday][:, None] * season * growth

    # promotions: the same SKU is promoted in every store (unless the calendar names stores)
    uplift = np.ones((n_days, n_store_rows))
    store_ids = [sites[s].id for s in row_site[store_rows]]
    sku_of_row = row_sku[store_rows]
    sku_index = {sku_id: i for i, sku_id in enumerate(sku_ids)}
    promos = model.promotions
    prng = streams["promotions"]
    if promos.share_of_skus > 0 and promos.per_sku > 0:
        for sku in np.flatnonzero(prng.random(len(sku_ids)) < promos.share_of_skus):
            count = prng.poisson(promos.per_sku)
            for _ in range(count):
                start = int(prng.integers(0, max(n_days - promos.duration_days, 1)))
                factor = float(promos.uplift.sample(prng, 1)[0])
                cols = sku_of_row == sku
                window = slice(start, start + promos.duration_days)
                uplift[window, cols] = np.maximum(uplift[window, cols], factor)
    for index, promo in enumerate(promos.calendar):
        if promo.sku not in sku_index:
            raise ScenarioError(f"demand.promotions.calendar[{index}].sku", f"unknown SKU '{promo.sku}'")
        cols = sku_of_row == sku_index[promo.sku]
        if promo.stores is not None:
            cols &= np.isin(np.array(store_ids), promo.stores)
        start = history + promo.start_day
        window = slice(max(start, 0), max(start + promo.days, 0))
        uplift[window, cols] = promo.uplift
    shock = np.ones((n_days, n_store_rows))
    for shock_spec in scenario.shocks:
        cols = np.isin(np.array(store_ids), shock_spec.stores)
        if shock_spec.skus is not None:
            cols &= np.isin(sku_of_row, [sku_index[s] for s in shock_spec.skus if s in sku_index])
        start = history + shock_spec.start_day
        shock[max(start, 0): max(start + shock_spec.days, 0), cols] *= shock_spec.factor
    store_mean = store_mean * uplift * shock
    # an intermittent day that has demand has at least one unit: the true mean is that of the
    # drawn sizes, which is above the nominal one when nominal mean / (1 - zero share) < 1
    intermittent = zero_share > 0
    store_mean = np.where(
        intermittent & (store_mean > 0), (1 - zero_share) * np.maximum(store_mean / (1 - zero_share), 1.0), store_mean)

    mean = np.zeros((n_days, n_rows))
    mean[:, store_rows] = store_mean
    active = np.zeros((n_days, n_rows), dtype=bool)
    active[:, store_rows] = uplift > 1
    zero = np.zeros(n_rows)
    zero[store_rows] = zero_share
    shape = np.full(n_rows, 1.0)
    shape[store_rows] = dispersion
    daily_variance = demand_variance(mean, zero, shape)
    return mean, {"zero_share": zero, "dispersion": shape, "daily": daily_variance}, active


def demand_variance(mean: np.ndarray, zero_share: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """Variance of the zero-inflated negative binomial daily demand with the given mean.

    With zero share z > 0, a day has demand with probability 1 - z, and then 1 + NB(size mean - 1);
    without, demand is NB(mean) with variance mean + mean^2 / dispersion.
    """
    size_mean = np.maximum(mean / (1 - zero_share), 1.0)
    extra = size_mean - 1
    size_variance = extra + extra**2 / dispersion
    inflated = (1 - zero_share) * (size_variance + size_mean**2) - mean**2
    plain = mean + mean**2 / dispersion
    return np.where(zero_share > 0, np.maximum(inflated, 0), plain)


def _realise_demand(rng: np.random.Generator, mean: np.ndarray, zero_share: np.ndarray,
                    dispersion: np.ndarray) -> np.ndarray:
    """Draw the demand path: gamma-Poisson (= negative binomial), zero-inflated where asked."""
    intermittent = zero_share > 0
    size_mean = np.where(intermittent, np.maximum(mean / (1 - zero_share), 1.0) - 1, mean)
    rate = rng.gamma(np.broadcast_to(dispersion, mean.shape), size_mean / dispersion)
    demand = rng.poisson(rate)
    occurs = rng.random(mean.shape) >= zero_share
    demand = np.where(intermittent, (demand + 1) * occurs * (mean > 0), demand)
    return demand.astype(np.int32)
