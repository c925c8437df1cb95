"""The ledger twin's daily cycle with the RebalancingAgent: lateral transfers proposed, governed, executed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from stockmesh.agents.rebalancing import RebalancingAgent
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.loop_gates import MinimalGate
from stockmesh.simulation.build import build_world
from stockmesh.simulation.kpis import compute_kpis
from stockmesh.simulation.ledger_twin import LedgerTwin
from stockmesh.simulation.scenario import parse_scenario
from stockmesh.simulation.simulate import make_policy, simulate

REPO = Path(__file__).resolve().parents[2]


def imbalance_small():  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((REPO / "scenarios" / "imbalance.yaml").read_text())
    raw["skus"]["count"] = 8
    raw["horizon"].update(warmup_days=14, measured_days=60)
    raw["disruptions"][0]["start_day"] = 20
    return build_world(parse_scenario(raw))


def test_rebalancing_proposals_go_through_the_gate_and_move_stock_in_ledger_and_world() -> None:
    spec = imbalance_small()
    store = MemoryEventStore()
    twin = LedgerTwin(spec, make_policy("agents", spec), store, MinimalGate(max_auto_value=500.0),
                      rebalancing=RebalancingAgent())
    world = twin.run()
    dispatched = [json.loads(e.data) if isinstance(e.data, str) else e.data
                  for e in store.read_all() if e.type == "TransferDispatched"]
    lateral = [d for d in dispatched if d["from_site"].startswith("STORE-")]
    assert lateral and world.totals.lateral_units.sum() > 0
    # larger transfers waited for the planner, who approved them; nothing failed
    assert twin.stats.approved_by_planner > 0 and twin.stats.failed == 0 and not twin.stats.failures
    catch_up(store)
    got = {(r["sku"], r["site"]): r["on_hand"] for r in positions(store)}
    assert (np.array([got.get((twin.sku[r], twin.site[r]), 0) for r in range(spec.n_rows)]) == world.on_hand).all()
    # the lateral units in transit at the end are still on order, in the ledger's book and the world's
    in_transit = sum(order.qty for orders in twin.book.values() for order in orders
                     if order.proposal_id.split("-D", 1)[1].split("-")[1] == "RB")
    assert in_transit == int(world.lateral_qty.sum())
    # with every transfer approved, the ledger's rebalancing is the array policy's (up to transfers from
    # one donor in one cycle, which the loop executes one at a time)
    approved = LedgerTwin(spec, make_policy("agents", spec), MemoryEventStore(), MinimalGate(max_auto_value=1e12),
                          rebalancing=RebalancingAgent()).run()
    array = simulate(spec, "agents+rebalancing")
    assert approved.totals.lateral_units.sum() == pytest.approx(array.world.totals.lateral_units.sum(), rel=0.1)
    assert compute_kpis(approved)["total_cost"] == pytest.approx(array.kpis["total_cost"], rel=0.03)
