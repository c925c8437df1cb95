"""Back-testing: replay real demand history (long CSV ``sku,site,date,qty``) through a policy.

Each SKU x site of the file becomes a store row supplied by one supplier. The file is read and
checked by :func:`stockmesh.planning.forecast.reader.read_demand_csv`, which also detects its period
from the gaps between consecutive dates of each series (daily, weekly or monthly; ``freq`` forces
it). A period's quantity is spread over its days: every unit falls on a day of the period drawn uniformly at random (seeded), so a monthly total of 30 becomes about one
a day, and a total of 2 lands on two days of the month: demand keeps its monthly totals and its
intermittency. The first ``history_days`` are the history the policies start from, the next
``warmup_days`` are simulated but not measured, the rest is measured. By default the history is
``history_periods`` (12) periods of the file (a year of a monthly or weekly file: a slow mover that
sells a few units a year shows them, and the seasons are seen once), never less than 56 days and
at most a third of the file's days; each row starts with ``lead time + 7`` days of its mean
history demand on hand, rounded up.

The file carries no economics, so every row gets the same, documented ones (``BacktestEconomics``);
the oracle is not available (there is no true distribution), hindsight is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stockmesh.adapters.simulated.spec import WorldSpec
from stockmesh.planning.forecast.panel import Frequency, period_start
from stockmesh.planning.forecast.reader import read_demand_csv as read_forecast_demand
from stockmesh.simulation.errors import ScenarioError


@dataclass(frozen=True)
class BacktestEconomics:
    """Costs applied to every replayed SKU x site."""

    unit_cost: float = 10.0
    holding_rate_per_year: float = 0.25
    fixed_order_cost: float = 20.0
    lost_sale_margin_factor: float = 1.0  # the lost-sale penalty per unit, in unit costs
    lead_time_days: int = 7


def read_demand_csv(
    path: str | Path, *, freq: Frequency | None = None, allow_fractional: bool = False
) -> tuple[list[tuple[str, str]], list[dt.date], np.ndarray, np.ndarray]:
    """Series keys, the period start dates, ``[period, series]`` quantities and each period's days.

    The file is read and checked by the forecasting reader (same columns, encodings, errors naming
    the line and the field, same frequency detection; ``freq`` forces it), with non-negative
    quantities, whole ones unless ``allow_fractional`` (each period's total is then rounded, as the
    twin counts units). Periods run on the calendar from the first date of the file to the last; a
    series has zero demand outside its own first-to-last range.
    """
    demand = read_forecast_demand(path, freq=freq, allow_fractional=allow_fractional)
    # Series in the order of the file, so that ``limit`` keeps its first series.
    panel = demand.panel.take(np.argsort(demand.first_lines, kind="stable"), trim=False)
    n_series, n_periods = panel.values.shape
    first = panel.last_period - panel.lengths + 1
    origin = int(first.min())
    n_calendar = int(panel.last_period.max()) - origin + 1
    rows, columns = np.nonzero(~np.isnan(panel.values))
    calendar = panel.last_period[rows] - (n_periods - 1 - columns) - origin
    matrix = np.zeros((n_calendar, n_series))
    matrix[calendar, rows] = panel.values[rows, columns]
    bounds = period_start(np.arange(origin, origin + n_calendar + 1), panel.freq)
    starts = [day.item() for day in bounds[:-1]]
    lengths = np.diff(bounds).astype(np.int64)
    keys = list(zip(panel.sku.tolist(), panel.site.tolist(), strict=True))
    return keys, starts, matrix, lengths


def demand_to_days(starts: list[dt.date], matrix: np.ndarray, period_days: np.ndarray,
                   rng: np.random.Generator) -> tuple[list[dt.date], np.ndarray]:
    """Spread each period's units uniformly at random over its days (see the module docstring).

    One multinomial draw per period and series, so a period of a billion units costs no more than
    one of ten. The days are int32 as in generated worlds, int64 when a day holds more than int32 can
    (the world reads demand as int64).
    """
    days: list[dt.date] = []
    blocks = []
    for index, start in enumerate(starts):
        length = int(period_days[index])
        days += [start + dt.timedelta(days=k) for k in range(length)]
        units = np.rint(matrix[index]).astype(np.int64)
        if length == 1:
            blocks.append(units[None, :])
            continue
        blocks.append(rng.multinomial(units, np.full(length, 1.0 / length)).T)
    demand = np.vstack(blocks)
    fits = demand.max(initial=0) <= np.iinfo(np.int32).max
    return days, demand.astype(np.int32) if fits else demand


MIN_HISTORY_DAYS = 56


def default_history_days(period_days: np.ndarray, n_days: int, periods: int = 12) -> int:
    """``periods`` periods of the file (their median length), at least 56 days, at most a third of the file."""
    wanted = periods * int(np.median(period_days))
    return max(MIN_HISTORY_DAYS, min(wanted, n_days // 3))


def backtest_spec(path: str | Path, *, history_days: int | None = None, warmup_days: int = 56, seed: int = 0,
                  economics: BacktestEconomics | None = None, limit: int | None = None,
                  freq: Frequency | None = None, allow_fractional: bool = False,
                  history_periods: int = 12) -> WorldSpec:
    """A world that replays the file's demand (``history_days`` None: ``history_periods`` periods)."""
    econ = economics or BacktestEconomics()
    keys, starts, matrix, period = read_demand_csv(path, freq=freq, allow_fractional=allow_fractional)
    if limit is not None:
        keys, matrix = keys[:limit], matrix[:, :limit]
    days, demand = demand_to_days(starts, matrix, period, np.random.default_rng(seed))
    n_days, n_rows = demand.shape
    if history_days is None:
        history_days = default_history_days(period, n_days, history_periods)
    if n_days <= history_days + warmup_days:
        raise ScenarioError("date", f"the file covers {n_days} days, fewer than history + warm-up + one measured day "
                                    f"({history_days + warmup_days + 1})")
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
        meta={"period_days": int(np.median(period)), "series": n_rows, "first_day": days[0].isoformat(), "last_day": days[-1].isoformat()},
    )
