"""`stockmesh policy compute`: policies from what the ledger knows (sales, receipts, registry)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.service.execute import execute
from stockmesh.service.policy_compute import ComputeSettings, compute_for_ledger
from tests.support.commands import SKU, STORE, SUPPLIER, c, network


def ledger() -> MemoryEventStore:
    store = MemoryEventStore()
    execute(store, network() + [c("ReceiveStock", sku=SKU, site=STORE, qty=400, occurred_at="2026-01-01")])
    for day in range(1, 29):
        execute(store, [c("ShipStock", sku=SKU, site=STORE, qty=10 + (day % 3), occurred_at=f"2026-02-{day:02d}")])
    execute(store, [c("PlacePurchaseOrder", po_id="PO-1", sku=SKU, site=STORE, supplier=SUPPLIER, qty=60,
                      occurred_at="2026-02-01"),
                    c("ReceivePurchaseOrder", po_id="PO-1", qty=60, occurred_at="2026-02-05")])
    catch_up(store)
    return store


def test_compute_learns_demand_and_lead_time_and_orders_in_packs() -> None:
    store = ledger()
    settings = ComputeSettings(window_days=28, as_of="2026-02-28", default_lead_time_days=10)
    row = compute_for_ledger(store, settings)[0]
    assert row["demand_per_day"] == sum(10 + d % 3 for d in range(1, 29)) / 28
    assert 4.0 < row["lead_time_days"] < 10.0  # one receipt after 4 days, shrunk towards the prior 10
    assert row["reorder_point"] > row["demand_per_day"] * row["lead_time_days"]
    assert row["inventory_position"] == 400 + 60 - sum(10 + d % 3 for d in range(1, 29))
    assert row["order_quantity"] % 6 == 0  # the SKU's pack size
    more = compute_for_ledger(store, ComputeSettings(window_days=28, as_of="2026-02-28", default_lead_time_days=10,
                                                     service_level=0.99))[0]
    assert more["safety_stock"] > row["safety_stock"]


def test_cli_compute_and_bad_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'p.db'}"
    lines = [{"command": "RegisterSku", "idempotency_key": "a", "sku": SKU, "unit_cost": 2.0},
             {"command": "RegisterSite", "idempotency_key": "b", "site": STORE},
             {"command": "ReceiveStock", "idempotency_key": "c", "sku": SKU, "site": STORE, "qty": 3}]
    lines += [{"command": "ShipStock", "idempotency_key": f"s{d}", "sku": SKU, "site": STORE, "qty": 1,
               "occurred_at": f"2026-03-{d:02d}"} for d in (1, 2)]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    assert runner.invoke(app, ["ingest", str(tmp_path / "in.jsonl"), "--db", db]).exit_code == 0
    out = runner.invoke(app, ["policy", "compute", "--json", "--db", db])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output.splitlines()[0])
    assert row["sku"] == SKU and row["order_quantity"] > 0
    bad = runner.invoke(app, ["policy", "compute", "--service-level", "1.5", "--db", db])
    assert bad.exit_code == 2 and "service_level" in bad.output
