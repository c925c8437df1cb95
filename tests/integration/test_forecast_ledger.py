"""The forecast cycle against a real SQLite ledger: sales in through commands, forecasts out as facts.

A small network (two SKUs at two stores) sells every day; the shelves are restocked when they run
low, except where a test wants a stock-out. ``run_forecast_cycle`` (and ``stockmesh forecast
run``) must publish one versioned forecast per SKU x site, record the errors of the last one as
the actuals arrive, raise a drift when demand shifts, and never read an empty shelf as no demand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stockmesh.agents.forecast import DemandForecastAgent
from stockmesh.bootstrap import open_store
from stockmesh.domain.commands import Command
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import execute
from stockmesh.service.forecasting import (
    forecast_read_model,
    latest_forecasts,
    read_demand_history,
    run_forecast_cycle,
)
from tests.support.commands import c

DAY0 = date(2025, 1, 1)
STORES = ("STORE-LYON-02", "STORE-PARIS-11")
SKUS = ("OAT-MILK-1L", "RYE-BREAD-500G")

DemandFn = Callable[[str, str, int], int]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield opened
    opened.close()


def _at(day: int, hour: int) -> str:
    return f"{DAY0 + timedelta(days=day)}T{hour:02d}:00:00+00:00"


def sell(
    store: EventStore,
    days: range,
    demand: DemandFn,
    *,
    restock: Callable[[str, str, int], bool] = lambda sku, site, day: True,
    on_hand: dict[tuple[str, str], int] | None = None,
) -> dict[tuple[str, str], int]:
    """Run the shops for ``days``: a morning delivery up to 4 days of cover when ``restock`` allows
    it, then the day's sales, capped by what is on the shelf (a stock-out loses the rest)."""
    stock = on_hand if on_hand is not None else {}
    commands: list[Command] = []
    if not stock:
        commands += [c("RegisterSku", sku=sku) for sku in SKUS]
        commands += [c("RegisterSite", site=site, kind="store") for site in STORES]
    for day in days:
        for sku in SKUS:
            for site in STORES:
                key = (sku, site)
                level = stock.get(key, 0)
                if restock(sku, site, day) and level < 40:
                    commands.append(c("ReceiveStock", sku=sku, site=site, qty=80 - level, occurred_at=_at(day, 6)))
                    level = 80
                sold = min(level, demand(sku, site, day))
                if sold:
                    commands.append(c("ShipStock", sku=sku, site=site, qty=sold, occurred_at=_at(day, 15)))
                stock[key] = level - sold
    execute(store, commands)
    return stock


def _published(store: EventStore) -> list[dict[str, object]]:
    events = [e for e in store.read_all() if e.type == "ForecastPublished"]
    return [{"stream": e.stream_id, **codec.loads(e.data)} for e in events]


def _poisson(mean: float, seed: int) -> DemandFn:
    rng = np.random.default_rng(seed)
    draws: dict[tuple[str, str, int], int] = {}

    def demand(sku: str, site: str, day: int) -> int:
        key = (sku, site, day)
        if key not in draws:
            draws[key] = int(rng.poisson(mean))
        return draws[key]

    return demand


def test_forecast_run_publishes_versioned_forecasts_with_quantiles(store: EventStore) -> None:
    sell(store, range(120), _poisson(8.0, seed=1))
    report = run_forecast_cycle(store, DemandForecastAgent(horizon=28, lead_time=7))
    assert report.as_of == DAY0 + timedelta(days=119)
    assert report.published == 4 and report.reselected == {"initial": 4}

    published = _published(store)
    assert sorted(p["stream"] for p in published) == sorted(
        f"forecast:{sku}@{site}" for sku in SKUS for site in STORES
    )
    for forecast in published:
        assert forecast["version"] == 1 and forecast["start"] == "2025-05-01"
        assert forecast["data_window"] == {
            "first": "2025-01-01", "last": "2025-04-30", "days": 120, "censored_days": 0,
        }
        quantiles = np.array([forecast["quantiles"][level] for level in ("0.5", "0.9", "0.95", "0.99")])
        assert quantiles.shape == (4, 28)
        assert np.all(np.diff(quantiles, axis=0) >= 0) and np.all(quantiles >= 0)
        assert 6.0 <= np.mean(forecast["point"]) <= 10.0
        assert 9.0 <= np.mean(quantiles[1]) <= 16.0  # Poisson(8): p90 is 12
        lead_time = forecast["lead_time_demand"]
        assert forecast["lead_time"] == 7 and 45 <= lead_time["mean"] <= 70
        assert lead_time["0.5"] <= lead_time["0.9"] <= lead_time["0.95"] <= lead_time["0.99"]
        assert forecast["accuracy"]["error_scale"] > 0 and forecast["accuracy"]["cv_score"] is not None
        assert forecast["model"] and forecast["parameters"]["metric"] == "rmsse"

    # A second run as of the same day writes nothing; the read model serves the latest version.
    again = run_forecast_cycle(store, DemandForecastAgent(horizon=28, lead_time=7))
    assert again.published == 0 and again.skipped_up_to_date == 4 and again.events_written == 0
    latest = latest_forecasts(store, site="STORE-LYON-02")
    assert [row["sku"] for row in latest] == sorted(SKUS) and all(row["version"] == 1 for row in latest)
    meta = json.loads(next(e for e in store.read_all() if e.type == "ForecastPublished").metadata)
    assert meta["actor"] == "agent:forecast" and meta["as_of"] == "2025-04-30"


def test_stock_out_days_are_censored_not_learned_as_zero_demand(store: EventStore) -> None:
    # OAT-MILK at Lyon gets no delivery for the last 12 days of every 30: its shelf runs empty.
    def restock(sku: str, site: str, day: int) -> bool:
        return not (sku == SKUS[0] and site == STORES[0] and day % 30 >= 18)

    sell(store, range(150), _poisson(10.0, seed=2), restock=restock)
    history = read_demand_history(store)
    row = history.sku.index(SKUS[0]) if history.site[0] == STORES[0] else 0
    assert (history.sku[row], history.site[row]) == (SKUS[0], STORES[0])
    censored = history.censored[row]
    assert 40 <= censored.sum() <= 60
    assert history.sales[row, censored].mean() < 4.0  # an empty shelf sells (almost) nothing
    assert not history.censored[1:].any()

    run_forecast_cycle(store, DemandForecastAgent(horizon=14, lead_time=7))
    published = {p["stream"]: p for p in _published(store)}
    starved = published[f"forecast:{SKUS[0]}@{STORES[0]}"]
    assert starved["data_window"]["censored_days"] == int(censored.sum())
    # Sales alone average about 7 a day; the demand the shelf saw is 10.
    assert np.nanmean(history.sales[row]) < 8.0
    assert np.mean(starved["point"]) >= 8.5
    assert starved["lead_time_demand"]["mean"] >= 60


def test_demand_shift_raises_drift_and_triggers_reselection(store: EventStore) -> None:
    base = _poisson(5.0, seed=3)
    shifted = _poisson(16.0, seed=4)

    def demand(sku: str, site: str, day: int) -> int:
        jumps = sku == SKUS[1] and site == STORES[1] and day >= 120
        return shifted(sku, site, day) if jumps else base(sku, site, day)

    agent = DemandForecastAgent(horizon=28, lead_time=7, reselect_every=60)
    stock = sell(store, range(120), demand)
    run_forecast_cycle(store, agent)
    drifted_at = None
    for week in range(3):
        days = range(120 + 7 * week, 127 + 7 * week)
        stock = sell(store, days, demand, on_hand=stock)
        report = run_forecast_cycle(store, agent)
        assert report.errors_recorded == 4
        if report.drifted:
            assert report.drifted == [(SKUS[1], STORES[1])]
            drifted_at = drifted_at or report.as_of
    assert drifted_at is not None

    stream = f"forecast:{SKUS[1]}@{STORES[1]}"
    events = [(e.type, codec.loads(e.data)) for e in store.read_stream(stream)]
    drift = next(data for kind, data in events if kind == "ForecastDriftDetected")
    assert drift["direction"] == "up" and drift["statistics"]["cusum_up"] > drift["thresholds"]["cusum_h"]
    after = [data for kind, data in events if kind == "ForecastPublished" and data["as_of"] == drifted_at.isoformat()]
    assert after[0]["reselected"] and after[0]["reason"] == "drift"
    first = next(data for kind, data in events if kind == "ForecastPublished")
    assert np.mean(after[0]["point"]) > np.mean(first["point"]) + 3.0
    errors = [data for kind, data in events if kind == "ForecastErrorRecorded"]
    assert errors and all(data["forecast_id"].startswith(f"{SKUS[1]}@{STORES[1]}/v") for data in errors)
    assert np.mean(errors[0]["errors"]) > 5.0  # demand ran well above the forecast

    # The steady series kept their models and saw no drift.
    steady = forecast_read_model(store)[(SKUS[0], STORES[0])]
    steady_events = [e.type for e in store.read_stream(f"forecast:{SKUS[0]}@{STORES[0]}")]
    assert "ForecastDriftDetected" not in steady_events and steady.version == 4
    kept = [codec.loads(e.data) for e in store.read_stream(f"forecast:{SKUS[0]}@{STORES[0]}")
            if e.type == "ForecastPublished"]
    assert [p["reason"] for p in kept] == ["initial", "kept", "kept", "kept"]
    assert len({p["model"] for p in kept}) == 1


def test_cli_forecast_run_on_a_sqlite_ledger(tmp_path: Path) -> None:
    from stockmesh.entrypoints.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ledger = open_store(url)
    try:
        sell(ledger, range(90), _poisson(6.0, seed=5))
    finally:
        ledger.close()
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", "run", "--db", url, "--horizon", "14", "--as-of", "2025-03-20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["as_of"] == "2025-03-20" and summary["published"] == 4
    result = runner.invoke(app, ["forecast", "run", "--db", url, "--horizon", "14"])
    assert result.exit_code == 0, result.output
    assert "as of 2025-03-31: 4 forecast(s) published" in result.output
    bad = runner.invoke(app, ["forecast", "run", "--db", url, "--as-of", "31/03/2025"])
    assert bad.exit_code == 2 and "--as-of" in bad.output
    empty_url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert runner.invoke(app, ["init", "--db", empty_url]).exit_code == 0  # forecast run creates no ledger
    empty = runner.invoke(app, ["forecast", "run", "--db", empty_url])
    assert empty.exit_code == 2 and "no stock movements" in empty.output
