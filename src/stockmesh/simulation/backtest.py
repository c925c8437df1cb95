"""Back-testing: replay real demand history (long CSV ``sku,site,date,qty``) through a policy.

Each SKU x site of the file becomes a store row supplied by one supplier. The period of the file
is inferred per file from the median gap between consecutive dates of a series (1 = daily, 7 =
weekly, about 30 = monthly). A period's quantity is spread over its days: every unit falls on a
day of the period drawn uniformly at random (seeded), so a monthly total of 30 becomes about one
a day, and a total of 2 lands on two days of the month: demand keeps its monthly totals and its
intermittency. The first ``history_days`` are the history the policies start from, the next
``warmup_days`` are simulated but not measured, the rest is measured.

The file carries no economics, so every row gets the same, documented ones (``BacktestEconomics``);
the oracle is not available (there is no true distribution), hindsight is.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.simulation.errors import ScenarioError


@dataclass(frozen=True)
class BacktestEconomics:
    """Costs applied to every replayed SKU x site."""

    unit_cost: float = 10.0
    holding_rate_per_year: float = 0.25
    fixed_order_cost: float = 20.0
    lost_sale_margin_factor: float = 1.0
    lead_time_days: int = 7


def read_demand_csv(path: str | Path) -> tuple[list[tuple[str, str]], list[dt.date], np.ndarray, int]:
    """Series keys, the period start dates, ``[period, series]`` quantities and the period in days."""
    keys: dict[tuple[str, str], int] = {}
    dates: dict[dt.date, int] = {}
    records: list[tuple[int, int, float]] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"sku", "site", "date", "qty"} - set(reader.fieldnames or [])
        if missing:
            raise ScenarioError("header", f"missing column(s) {', '.join(sorted(missing))}; expected sku,site,date,qty")
        for line, record in enumerate(reader, start=2):
            try:
                day = dt.date.fromisoformat(record["date"])
                quantity = float(record["qty"])
            except ValueError as exc:
                raise ScenarioError(f"line {line}", f"bad date or qty: {exc}") from exc
            if quantity < 0:
                raise ScenarioError(f"line {line}.qty", f"negative quantity {quantity}")
            key = keys.setdefault((record["sku"], record["site"]), len(keys))
            index = dates.setdefault(day, len(dates))
            records.append((index, key, quantity))
    if not records:
        raise ScenarioError("", f"{path} has no rows")
    order = sorted(dates)
    position = {d: i for i, d in enumerate(order)}
    remap = np.array([position[d] for d in dates])
    matrix = np.zeros((len(order), len(keys)))
    for date_index, key, quantity in records:
        matrix[remap[date_index], key] += quantity
    gaps = np.diff([d.toordinal() for d in order])
    period = int(np.median(gaps)) if gaps.size else 1
    return list(keys), order, matrix, max(period, 1)


def demand_to_days(starts: list[dt.date], matrix: np.ndarray, period_days: int,
                   rng: np.random.Generator) -> tuple[list[dt.date], np.ndarray]:
    """Spread each period's units uniformly at random over its days (see the module docstring)."""
    if period_days == 1:
        return starts, np.rint(matrix).astype(np.int32)
    days: list[dt.date] = []
    blocks = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else start + dt.timedelta(days=period_days)
        length = max((end - start).days, 1)
        days += [start + dt.timedelta(days=k) for k in range(length)]
        units = np.rint(matrix[index]).astype(np.int64)
        block = np.zeros((length, matrix.shape[1]), dtype=np.int32)
        for series in np.flatnonzero(units):
            block[:, series] = np.bincount(rng.integers(0, length, units[series]), minlength=length)
        blocks.append(block)
    return days, np.vstack(blocks)


def backtest_spec(path: str | Path, *, history_days: int = 56, warmup_days: int = 56, seed: int = 0,
                  economics: BacktestEconomics | None = None, limit: int | None = None) -> WorldSpec:
    """A world that replays the file's demand."""
    econ = economics or BacktestEconomics()
    keys, starts, matrix, period = read_demand_csv(path)
    if limit is not None:
        keys, matrix = keys[:limit], matrix[:, :limit]
    days, demand = demand_to_days(starts, matrix, period, np.random.default_rng(seed))
    n_days, n_rows = demand.shape
    if n_days <= history_days + warmup_days:
        raise ScenarioError("", f"{path} covers {n_days} days, fewer than history + warm-up ({history_days + warmup_days})")
    site_ids = tuple(dict.fromkeys(site for _sku, site in keys))
    sku_ids = tuple(dict.fromkeys(sku for sku, _site in keys))
    site_index = {s: i for i, s in enumerate(site_ids)}
    sku_index = {s: i for i, s in enumerate(sku_ids)}
    lead_time = econ.lead_time_days
    pmf = np.zeros((1, lead_time + 1))
    pmf[0, lead_time] = 1
    mean_demand = demand[:history_days].mean(axis=0)
    unit_cost = np.full(n_rows, econ.unit_cost)
    ones = np.ones(n_rows)
    return WorldSpec(
        history_days=history_days, warmup_days=warmup_days, measured_days=n_days - history_days - warmup_days,
        weekday=np.array([d.weekday() for d in days]),
        site_ids=site_ids, site_is_store=np.ones(len(site_ids), dtype=bool), sku_ids=sku_ids,
        supplier_ids=("SUPPLIER",),
        row_sku=np.array([sku_index[k[0]] for k in keys]), row_site=np.array([site_index[k[1]] for k in keys]),
        row_parent=np.full(n_rows, -1), row_supplier=np.zeros(n_rows, dtype=np.int64),
        row_lane=np.zeros(n_rows, dtype=np.int64), row_echelon=np.zeros(n_rows, dtype=np.int64),
        unit_cost=unit_cost, holding_cost_per_day=econ.holding_rate_per_year * unit_cost / 365,
        lost_sale_penalty=econ.lost_sale_margin_factor * unit_cost, backorder_cost_per_day=0.02 * unit_cost,
        order_cost=econ.fixed_order_cost * ones, pack_size=np.ones(n_rows, dtype=np.int64),
        shelf_life_days=np.zeros(n_rows, dtype=np.int64),
        initial_on_hand=np.ceil(mean_demand * (lead_time + 7)).astype(np.int64),
        lane_from=("SUPPLIER",), lane_to=("*",), lane_capacity_per_day=np.array([np.inf]),
        lane_cost_per_unit=np.zeros(1), lane_cost_per_shipment=np.zeros(1),
        lane_lead_time_mean=np.array([float(lead_time)]),
        demand=demand, demand_mean=np.broadcast_to(np.float32(np.nan), demand.shape),
        demand_variance=np.broadcast_to(np.float32(np.nan), demand.shape),
        promotion_active=np.zeros(demand.shape, dtype=bool),
        lead_time_pmf=pmf, lead_time_factor=np.ones((n_days, 1)),
        lead_time_draw=np.full(demand.shape, lead_time, dtype=np.int32),
        notice_factor=np.ones((n_days, 1)), notice_days_left=np.zeros((n_days, 1), dtype=np.int64),
        seed=seed, name=Path(path).stem,
        meta={"period_days": period, "series": n_rows, "first_day": days[0].isoformat(), "last_day": days[-1].isoformat()},
    )
