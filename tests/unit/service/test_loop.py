"""The agent loop's write side: conflicts, governance verdicts, execution exactly once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson
import pytest

from stockmesh.agents.allocation import AllocationAgent
from stockmesh.agents.inventory import InventoryAgent
from stockmesh.agents.replenishment import ReplenishmentAgent, ReplenishmentRows
from stockmesh.agents.supply import LateOrder, SupplyChainAgent
from stockmesh.domain.commands import PlacePurchaseOrder
from stockmesh.domain.proposals import Proposal
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import execute
from stockmesh.service.loop import approve_and_execute, resolve_conflicts, run_cycle
from stockmesh.service.loop_gates import MinimalGate
from tests.support.commands import DC, SKU, STORE, SUPPLIER, c, network


def transfer(pid: str, qty: int, tempo: str = "deliberative", site: str = STORE) -> Proposal:
    return Proposal(proposal_id=pid, agent="replenishment", action="DispatchTransfer", sku=SKU, site=site, qty=qty,
                    value=qty * 1.2, tempo=tempo, claims=(f"stock:{SKU}@{DC}",),
                    command=c("DispatchTransfer", transfer_id=f"TR-{pid}", sku=SKU, from_site=DC,
                              to_site=site, qty=qty))


def order(pid: str, qty: int, unit_cost: float = 1.2, site: str = STORE) -> Proposal:
    return Proposal(proposal_id=pid, agent="replenishment", action="PlacePurchaseOrder", sku=SKU, site=site,
                    qty=qty, value=qty * unit_cost,
                    command=c("PlacePurchaseOrder", po_id=f"PO-{pid}", sku=SKU, site=site,
                              supplier=SUPPLIER, qty=qty))


def world() -> MemoryEventStore:
    store = MemoryEventStore()
    execute(store, [*network(), c("RegisterSite", site="STORE-LYON-03"),
                    c("ReceiveStock", sku=SKU, site=DC, qty=50)])
    return store


def test_same_target_keeps_the_reactive_proposal():
    kept, superseded = resolve_conflicts([transfer("a", 10), transfer("b", 12, tempo="reactive")])
    assert [p.proposal_id for p in kept] == ["b"]
    assert superseded[0][0].proposal_id == "a" and superseded[0][1] == "b"


def test_claims_never_exceed_the_donor():
    kept, superseded = resolve_conflicts([transfer("a", 30), transfer("b", 30, site="STORE-LYON-03")],
                                         available={f"stock:{SKU}@{DC}": 50})
    assert len(kept) == 1 and len(superseded) == 1


def test_cycle_records_and_executes_once():
    store = world()
    proposals = [order("p1", 24), order("big", 100_000, unit_cost=1.0, site="STORE-LYON-03"), transfer("t1", 20)]
    report = run_cycle(store, proposals, MinimalGate(max_auto_value=10_000), occurred_at="2026-03-02")
    assert {p.proposal_id for p in report.executed} == {"p1", "t1"}
    assert [p.proposal_id for p in report.waiting] == ["big"]
    assert [e.type for e in store.read_stream("proposal:p1")] == ["ProposalMade", "ProposalApproved",
                                                                  "ProposalExecuted"]
    assert [e.type for e in store.read_stream("proposal:big")] == ["ProposalMade", "ProposalQueued"]
    # the same cycle again (a retry): nothing is ordered twice
    before = store.count_events()
    run_cycle(store, [order("p1", 24)], MinimalGate())
    catch_up(store)
    row = positions(store, sku=SKU, site=STORE)[0]
    assert row["on_order"] == 24 and row["in_transit"] == 20
    assert store.count_events() - before == 3  # only facts: made, approved, executed (duplicate command)
    # a person approves the queued one: executed exactly once, even if approved twice
    approve_and_execute(store, report.waiting, by="alice", reason="season start")
    approve_and_execute(store, report.waiting, by="alice", reason="double click")
    catch_up(store)
    assert positions(store, sku=SKU, site="STORE-LYON-03")[0]["on_order"] == 100_000


def test_refused_command_is_recorded_as_failed():
    store = world()
    report = run_cycle(store, [transfer("t-too-big", 80)], MinimalGate())
    assert report.failed and "available" in report.failed[0][1]
    assert [e.type for e in store.read_stream("proposal:t-too-big")][-1] == "ProposalFailed"


def test_a_proposal_carries_a_typed_command_stored_in_its_old_shape():
    rows = ReplenishmentRows(sku=[SKU], site=[STORE], supplier=[SUPPLIER], source_site=[None],
                             unit_cost=np.array([1.2]), lead_time_days=np.array([5.0]))
    (p,) = ReplenishmentAgent().propose(rows, np.array([0]), np.array([24]), day_label="D1",
                                        explain=lambda r: {"formula": "S - IP"})
    assert isinstance(p.command, PlacePurchaseOrder) and p.command.supplier == SUPPLIER and p.command.qty == 24
    store = world()
    run_cycle(store, [p], MinimalGate(), occurred_at="2026-03-02T00:00:00+00:00")
    made = orjson.loads(store.read_stream(f"proposal:{p.proposal_id}")[0].data)
    # ProposalMade keeps the JSON object it always stored: no key, no actor
    assert made["command"] == {"command": "PlacePurchaseOrder", "po_id": f"PO-{p.proposal_id}", "sku": SKU,
                               "site": STORE, "supplier": SUPPLIER, "qty": 24}
    placed = [e for e in store.read_all() if e.type == "PurchaseOrderPlaced"]
    assert len(placed) == 1 and orjson.loads(placed[0].metadata)["actor"] == "agent:replenishment"


def test_a_proposal_command_executes_under_the_proposal_key_and_is_checked():
    store = world()
    # built with another key (a copy of a proposal under a new id): the proposal's own key is used
    copied = replace(order("first", 5), proposal_id="second")
    assert run_cycle(store, [copied], MinimalGate()).executed == [copied]
    assert run_cycle(store, [copied], MinimalGate()).executed == [copied]  # a retry: the same key, a duplicate
    catch_up(store)
    assert positions(store, sku=SKU, site=STORE)[0]["on_order"] == 5
    # a command built in code is held to the rules of one parsed from a file
    bad = replace(transfer("loop", 5), command=replace(transfer("loop", 5).command, to_site=DC))
    report = run_cycle(store, [bad], MinimalGate())
    assert report.failed and "to_site" in report.failed[0][1] and not report.executed


def test_kill_switch_queues_everything():
    store = world()
    report = run_cycle(store, [order("k", 1)], MinimalGate(kill_switch=True))
    assert report.queued == 1 and not report.executed


def test_replenishment_agent_builds_orders_and_transfers():
    rows = ReplenishmentRows(sku=[SKU, SKU], site=[DC, STORE], supplier=[SUPPLIER, None], source_site=[None, DC],
                             unit_cost=np.array([1.2, 1.2]), lead_time_days=np.array([5.0, 1.0]))
    proposals = ReplenishmentAgent().propose(rows, np.array([0, 1]), np.array([48, 0]), day_label="D1",
                                             explain=lambda r: {"formula": "S - IP"})
    assert len(proposals) == 1 and proposals[0].action == "PlacePurchaseOrder"
    assert proposals[0].provenance["formula"] == "S - IP" and proposals[0].value == 57.6


def test_fair_share_never_overallocates():
    allocated = AllocationAgent.fair_share(np.array([10, 30, 0, 5]), np.array([0, 0, 0, 1]), np.array([20, 100]))
    assert allocated.tolist()[:3] == [5, 15, 0] and allocated[3] == 5
    odd = AllocationAgent.fair_share(np.array([3, 3, 3]), np.array([0, 0, 0]), np.array([7]))
    assert odd.sum() == 7 and odd.max() - odd.min() <= 1


def test_supply_agent_learns_lead_times_and_flags_late_orders():
    agent = SupplyChainAgent(prior_receipts=2)
    for lt in (6, 7, 8, 7):
        agent.observe_receipt("SUP->DC", lt, on_time=lt <= 7, in_full=True)
    mean, sd = agent.lead_time("SUP->DC", quoted_mean=5)
    assert 6.0 < mean < 7.0 and sd > 0
    card = agent.scorecard()[0]
    assert card.receipts == 4 and card.on_time_in_full == 0.75
    late = SupplyChainAgent.late_orders(np.array([3, 10, 3]), today=6, open_qty=np.array([5, 5, 0]))
    assert late.tolist() == [0]
    agent.observe_receipt("SUP->STORE", 9, on_time=False, in_full=True)
    (supplier,) = agent.supplier_scorecard()
    assert supplier.lane == "SUP" and supplier.receipts == 5 and supplier.on_time_in_full == 0.6
    assert supplier.lead_time_mean == pytest.approx(37 / 5)


def test_supply_agent_expedites_only_when_the_avoided_lost_sales_pay():
    order = dict(po_id="PO-1", sku=SKU, site=STORE, supplier=SUPPLIER, lane=f"{SUPPLIER}->{STORE}", qty=60,
                 placed_day=0, expected_day=7, on_hand=4.0, daily_demand=5.0, unit_margin=3.0, expedite_factor=0.25,
                 extra_cost_per_unit=0.1, cost_per_shipment=5.0)
    agent = SupplyChainAgent()
    (proposal,) = agent.propose_expedites([LateOrder(**order)], today=10, day_label="D10", date_of=lambda d: f"day {d}")
    # 3 days late: 3 more days expected (15 units short of 4 on hand -> 11), 1 day expedited (1 short)
    result = proposal.provenance["result"]
    assert result["avoided_lost_units"] == 10 and result["extra_cost"] == proposal.value == 11.0
    assert proposal.action == "ExpeditePurchaseOrder" and proposal.tempo == "reactive"
    assert proposal.command_body() == {"command": "ExpeditePurchaseOrder", "po_id": "PO-1", "mode": "expedited",
                                       "expected_at": "day 11", "reason": proposal.reasons[0]}
    assert not agent.propose_expedites([LateOrder(**{**order, "on_hand": 100.0})], today=10, day_label="D10",
                                       date_of=str)  # stock covers the delay: nothing to gain
    assert not agent.propose_expedites([LateOrder(**{**order, "expedite_factor": 0.0})], today=10, day_label="D10",
                                       date_of=str)  # no expedited mode on the lane


def test_inventory_agent_projects_stockouts_and_spikes():
    risk = InventoryAgent.projected_stockouts(np.array([5.0, 50.0]), np.array([2.0, 2.0]), np.array([4.0, 4.0]))
    assert risk.rows.tolist() == [0]
    spikes = InventoryAgent.demand_spikes(np.array([30.0, 6.0]), np.array([5.0, 5.0]), np.array([2.0, 2.0]))
    assert spikes.tolist() == [0]
