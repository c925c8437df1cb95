"""The SupplyChainAgent in the ledger twin: a late purchase order on a lane with an expedited
mode becomes a reactive expedite proposal that passes the gate, executes through the ledger and
explains itself; the world ships the rest of that order faster, and still holds the ledger's stock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stockmesh.ledger import codec
from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.projections.runner import catch_up, verify
from stockmesh.projections.stock_positions import positions
from stockmesh.service.explain import explain
from stockmesh.service.loop_gates import MinimalGate
from stockmesh.simulation.build import build_world
from stockmesh.simulation.ledger_twin import LedgerTwin
from stockmesh.simulation.scenario import parse_scenario
from stockmesh.simulation.simulate import make_policy

STORES = ["STORE-LYON-01", "STORE-NANTES-01"]


def late_supplier_scenario() -> dict[str, Any]:
    """One supplier late on half its orders (by 6 to 12 days), an expedited mode on its lanes."""
    expedited = {"lead_time_factor": 0.25, "cost_per_unit": 0.1, "cost_per_shipment": 5}
    return {
        "name": "late-supplier", "seed": 3, "policy": "agents",
        "horizon": {"history_days": 56, "warmup_days": 14, "measured_days": 60, "start_date": "2024-01-01"},
        "network": {
            "suppliers": [{"id": "SUP-SLOW", "lead_time": 4, "reliability": 0.5, "late_days": {"uniform": [6, 12]}}],
            "stores": [{"id": store} for store in STORES],
            "lanes": [{"from": "SUP-SLOW", "to": store, "cost_per_unit": 0.02, "cost_per_shipment": 10,
                       "expedited": expedited} for store in STORES],
        },
        "skus": {"count": 12, "unit_cost": {"uniform": [5, 50]}, "fixed_order_cost": {"uniform": [5, 20]},
                 "lost_sale_margin_factor": {"uniform": [1.5, 2.0]}, "pack_size": 1},
        "demand": {"level": {"loguniform": [2, 8]}, "dispersion": {"uniform": [2, 6]},
                   "weekly_profile": [0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 0.8]},
        "costs": {"holding_rate_per_year": 0.25, "lost_sale_penalty": "margin", "unmet_demand": "lost-sales"},
    }


def test_late_order_is_expedited_through_the_gate_and_the_ledger(tmp_path: Path) -> None:
    spec = build_world(parse_scenario(late_supplier_scenario()))
    store = SqliteEventStore(str(tmp_path / "twin.db"))
    store.init()
    # orders above 150 wait for a person (the simulated planner approves them the same day)
    twin = LedgerTwin(spec, make_policy("agents", spec), store, MinimalGate(max_auto_value=150.0), run_id="late")
    world = twin.run()
    assert twin.stats.late_orders > 0 and twin.stats.expedited > 0 and twin.stats.failed == 0
    assert world.totals.expedited_units.sum() > 0

    expedites = [e for e in store.read_all() if e.type == "PurchaseOrderExpedited"]
    assert len(expedites) == twin.stats.expedited
    first = expedites[0]
    po_id = first.stream_id.split(":", 1)[1]
    assert codec.loads(first.data)["mode"] == "expedited"
    key = codec.loads(first.metadata)["idempotency_key"]
    trail = [e.type for e in store.read_stream(key)]
    assert trail[0] == "ProposalMade" and "ProposalApproved" in trail and trail[-1] == "ProposalExecuted"
    made = codec.loads(store.read_stream(key)[0].data)
    assert made["agent"] == "supply" and made["action"] == "ExpeditePurchaseOrder" and made["tempo"] == "reactive"
    assert made["command"]["po_id"] == po_id
    result = made["provenance"]["result"]
    assert result["days_late"] > twin.late_grace_days
    assert result["avoided_lost_sales_value"] > result["extra_cost"] == made["value"]

    story = explain(store, po_id)
    assert story["proposal"]["action"] == "PlacePurchaseOrder"  # why the order exists
    (action,) = [a for a in story["actions"] if a["event"] == "PurchaseOrderExpedited"]
    assert action["proposal"]["proposal_id"] == made["proposal_id"]
    assert action["proposal"]["provenance"]["formula"].startswith("expedite when")
    assert [d["type"] for d in action["decision"]][-1] == "ProposalExecuted"

    # the read models fold the new event (the order's ETA is the expedited one); the world and the
    # ledger still hold the same stock, and the ledger verifies
    catch_up(store)
    (document,) = store.load_view("documents", {"doc_id": first.stream_id})
    expected_at = [codec.loads(e.data)["expected_at"] for e in expedites if e.stream_id == first.stream_id][-1]
    assert document[8] == expected_at == made["command"]["expected_at"]
    held = {(r["sku"], r["site"]): r["on_hand"] for r in positions(store)}
    assert (np.array([held.get((twin.sku[r], twin.site[r]), 0) for r in range(spec.n_rows)]) == world.on_hand).all()
    assert verify(store).ok and verify_chain(store.read_all(), store.head()).ok
    store.close()


def test_no_expedited_mode_means_flags_but_no_expedites(tmp_path: Path) -> None:
    raw = late_supplier_scenario()
    for lane in raw["network"]["lanes"]:
        del lane["expedited"]
    raw["horizon"]["measured_days"] = 30
    spec = build_world(parse_scenario(raw))
    store = SqliteEventStore(str(tmp_path / "twin.db"))
    store.init()
    twin = LedgerTwin(spec, make_policy("agents", spec), store, MinimalGate(max_auto_value=1e12))
    twin.run()
    assert twin.stats.late_orders > 0 and twin.stats.expedited == 0
    assert not [e for e in store.read_all() if e.type == "PurchaseOrderExpedited"]
    store.close()
