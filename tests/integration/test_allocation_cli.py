"""`stockmesh allocate` and `stockmesh rebalance` on a ledger: plans, explanations, the loop, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stockmesh.entrypoints.cli_allocation import register
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import execute
from tests.support.commands import c

SKU = "OAT-MILK-1L"
DC = "DC-LYON"
STORES = {"STORE-LYON-01": 9, "STORE-LYON-02": 2, "STORE-PARIS-01": 5}  # daily sales


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    from stockmesh.ledger.sqlite import SqliteEventStore

    path = tmp_path / "ledger.db"
    store = SqliteEventStore(str(path))
    store.init()
    commands = [c("RegisterSku", sku=SKU, unit_cost=2.0, pack_size=1), c("RegisterSite", site=DC, kind="dc"),
                *(c("RegisterSite", site=s, kind="store") for s in STORES),
                c("ReceiveStock", sku=SKU, site=DC, qty=500)]
    start = dt.date(2024, 3, 1)
    stock = {"STORE-LYON-01": 150, "STORE-LYON-02": 160, "STORE-PARIS-01": 150}
    for store_id, qty in stock.items():
        commands += [c("DispatchTransfer", transfer_id=f"TR-{store_id}", sku=SKU, from_site=DC, to_site=store_id,
                       qty=qty, occurred_at=f"{start.isoformat()}T08:00:00+00:00"),
                     c("ReceiveTransfer", transfer_id=f"TR-{store_id}", qty=qty,
                       occurred_at=f"{start.isoformat()}T09:00:00+00:00")]
    for day in range(14):
        when = f"{(start + dt.timedelta(days=day)).isoformat()}T18:00:00+00:00"
        for store_id, rate in STORES.items():
            commands.append(c("ShipStock", sku=SKU, site=store_id, qty=rate + day % 2, occurred_at=when))
    execute(store, commands)
    store.close()
    return f"sqlite:///{path}"


def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


def test_allocate_shows_the_plan_of_a_short_dc(ledger: str) -> None:
    result = CliRunner().invoke(app(), ["allocate", "--sku", SKU, "--db", ledger, "--json", "--cover-days", "30"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    plan = {row["store"]: row for row in out["plan"]}
    assert set(plan) == set(STORES)
    dc = out["summary"]["dcs"][0]
    assert dc["dc"] == DC and dc["short"] and sum(r["allocated"] for r in plan.values()) == dc["available"] == 40
    # the busiest store, the one with the least cover, gets the most
    assert plan["STORE-LYON-01"]["allocated"] == max(r["allocated"] for r in plan.values())
    assert plan["STORE-LYON-01"]["expected_shortage_after"] < plan["STORE-LYON-01"]["expected_shortage_before"]
    table = CliRunner().invoke(app(), ["allocate", "--sku", SKU, "--db", ledger, "--cover-days", "30"])
    assert table.exit_code == 0 and "shadow price" in table.stdout


def test_rebalance_dry_run_then_execute_exactly_once(ledger: str) -> None:
    runner = CliRunner()
    dry = runner.invoke(app(), ["rebalance", "--dry-run", "--db", ledger, "--json", "--lead-time", "10"])
    assert dry.exit_code == 0, dry.output
    transfers = json.loads(dry.stdout)["transfers"]
    assert transfers and all(t["from"] == "STORE-LYON-02" and t["to"] == "STORE-LYON-01" for t in transfers)
    assert all(t["expected_value"] > 0 and t["status"] == "dry-run" for t in transfers)
    done = runner.invoke(app(), ["rebalance", "--db", ledger, "--json", "--lead-time", "10"])
    summary = json.loads(done.stdout)["summary"]
    assert summary["executed"] == len(transfers) and not summary["failed"]
    from stockmesh.ledger.sqlite import SqliteEventStore

    store = SqliteEventStore(ledger.removeprefix("sqlite:///"))
    catch_up(store)
    moved = sum(t["qty"] for t in transfers)
    row = {r["site"]: r for r in positions(store, sku=SKU)}
    assert row["STORE-LYON-01"]["in_transit"] == moved
    store.close()


def test_clear_errors(ledger: str) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app(), ["allocate", "--sku", "NOPE", "--db", ledger])
    assert unknown.exit_code == 2 and "unknown SKU 'NOPE'" in unknown.output
    bad = runner.invoke(app(), ["allocate", "--sku", SKU, "--db", ledger, "--method", "magic"])
    assert bad.exit_code == 2 and "unknown method" in bad.output
    negative = runner.invoke(app(), ["rebalance", "--dry-run", "--db", ledger, "--cost-per-unit", "-1"])
    assert negative.exit_code == 2 and "must not be negative" in negative.output


def test_the_ledger_twin_routes_dc_shortages_through_the_lp(tmp_path: Path) -> None:
    import numpy as np
    import yaml

    from stockmesh.agents.allocation import AllocationAgent
    from stockmesh.ledger.memory import MemoryEventStore
    from stockmesh.service.loop_gates import MinimalGate
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.ledger_twin import LedgerTwin
    from stockmesh.simulation.scenario import parse_scenario
    from stockmesh.simulation.simulate import make_policy

    repo = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((repo / "scenarios" / "dc-shortage.yaml").read_text())
    raw["skus"]["count"] = 6
    raw["horizon"].update(warmup_days=7, measured_days=50)
    raw["disruptions"][0]["start_day"] = 5
    spec = build_world(parse_scenario(raw))
    store = MemoryEventStore()
    twin = LedgerTwin(spec, make_policy("agents", spec), store, MinimalGate(max_auto_value=1e12),
                      allocation=AllocationAgent("lp"))
    calls = []
    share = twin.allocation.share  # type: ignore[union-attr]
    twin.allocation.share = lambda *a, **k: calls.append(1) or share(*a, **k)  # type: ignore[union-attr,method-assign]
    world = twin.run()
    assert calls and twin.stats.failed == 0 and twin.stats.executed == twin.stats.proposals
    catch_up(store)
    got = {(r["sku"], r["site"]): r["on_hand"] for r in positions(store)}
    assert (np.array([got.get((twin.sku[r], twin.site[r]), 0) for r in range(spec.n_rows)]) == world.on_hand).all()
