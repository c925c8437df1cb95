"""The agents on slow, intermittent demand: they stock a slow mover when the lost-sale penalty pays for it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from stockmesh.simulation.backtest import BacktestEconomics, backtest_spec
from stockmesh.simulation.policies.agents import (
    AgentsSettings,
    _gamma_poisson_posterior,
    _uncensor,
    _worth_stocking,
)
from stockmesh.simulation.simulate import simulate

MONTHS = [dt.date(2019 + index // 12, index % 12 + 1, 1) for index in range(48)]


def _slow_movers(tmp_path: Path, n_parts: int = 30, per_month: float = 0.5) -> Path:
    """Spare parts at one warehouse, each selling about ``per_month`` units a month (Poisson)."""
    rng = np.random.default_rng(7)
    lines = ["sku,site,date,qty"]
    for part in range(n_parts):
        for month, qty in zip(MONTHS, rng.poisson(per_month, len(MONTHS)), strict=True):
            lines.append(f"BRAKE-PAD-{part:03d},WAREHOUSE-LYON,{month},{qty}")
    path = tmp_path / "spare_parts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_agents_stock_slow_movers_when_lost_sales_are_expensive(tmp_path: Path) -> None:
    spec = backtest_spec(_slow_movers(tmp_path), economics=BacktestEconomics(lost_sale_margin_factor=5))
    agents = simulate(spec, "agents").kpis
    minmax = simulate(spec, "minmax").kpis
    assert agents["ordering_cost"] > 0  # they order, and reorder after sales
    assert agents["fill_rate"] >= 0.8
    assert agents["total_cost"] < minmax["total_cost"]


def test_a_sale_that_empties_the_shelf_counts_as_demand() -> None:
    # OAT-MILK-1L sold its last unit on day 2 (censored, demand >= 1) and had no stock on day 3
    sales = np.array([[0.0], [0.0], [1.0], [0.0], [0.0]])
    censored = np.array([[False], [False], [True], [True], [False]])
    estimate, valid = _uncensor(sales, censored, np.ones_like(censored), np.ones_like(sales), AgentsSettings())
    assert valid[:, 0].tolist() == [True, True, True, False, True]  # an empty shelf all day tells nothing
    assert 1.0 <= estimate[2, 0] < 1.5  # at least the unit sold, a little more at a low rate
    # a fast mover that ran out early: the day is read near its usual demand, not as its sales
    sales = np.array([[20.0]] * 6 + [[5.0]])
    censored = np.array([[False]] * 6 + [[True]])
    estimate, valid = _uncensor(sales, censored, np.ones_like(censored), np.ones_like(sales), AgentsSettings())
    assert valid.all() and 19.0 <= estimate[-1, 0] <= 21.0


def test_no_sale_in_a_year_is_shrunk_towards_the_sites_slow_movers() -> None:
    units = np.array([0.0, 1.0, 2.0, 3.0, 6.0, 0.0])
    days = np.full(6, 365.0)
    site = np.array([0, 0, 0, 0, 0, 1])
    rate = _gamma_poisson_posterior(units, days, site, np.ones(6, dtype=bool))
    site_mean = units[:5].sum() / days[:5].sum()
    assert 0 < rate[0] < site_mean  # not zero, not the mean either
    assert rate[4] < 6 / 365  # one lucky year is pulled down too
    assert rate[5] == 0  # a site that sold nothing has no prior


def test_a_slow_mover_is_stocked_only_when_its_penalty_pays_for_the_shelf() -> None:
    class Economics:  # the fields of an Observation that the rule reads
        holding_cost_per_day = np.full(2, 0.25 * 10 / 365)
        order_cost = np.full(2, 20.0)
        row_echelon = np.zeros(2, dtype=np.int64)

    daily = np.full(2, 1 / 365)  # a unit a year, ordered in batches of 4 (its EOQ)
    penalty = np.array([10.0, 50.0])  # lost margin 1x and 5x the unit cost
    stocked = _worth_stocking(Economics(), np.arange(2), daily, penalty,  # type: ignore[arg-type]
                              reorder_point=np.zeros(2), order_up_to=np.full(2, 4.0),
                              lead_demand_mean=np.full(2, 7 / 365))
    assert stocked.tolist() == [False, True]
