"""Two proposals (or two agents) never move the same units: threads race transfer and reservation
proposals on one donor through ``run_cycle`` on SQLite and in memory; the ledger grants exactly what
the donor holds, refuses the rest (recorded as ``ProposalFailed``) and never goes negative."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stockmesh.agents.rebalancing import RebalancingAgent
from stockmesh.domain.proposals import Proposal
from stockmesh.planning.allocation.rebalance import Lanes, RebalanceProblem
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import execute
from stockmesh.service.loop import run_cycle
from stockmesh.service.loop_gates import MinimalGate
from tests.conftest import drop_store, make_store
from tests.support.commands import SKU, c

DONOR = "STORE-LYON-02"
RECEIVERS = [f"STORE-PARIS-{i:02d}" for i in range(1, 5)]
ON_HAND = 100
QTY = 7


def seed(store) -> None:  # type: ignore[no-untyped-def]
    execute(store, [c("RegisterSku", sku=SKU, unit_cost=1.2, pack_size=1),
                    *(c("RegisterSite", site=s, kind="store") for s in [DONOR, *RECEIVERS]),
                    c("ReceiveStock", sku=SKU, site=DONOR, qty=ON_HAND)])


def proposal(i: int) -> Proposal:
    """Half transfers to a receiver, half reservations of the donor's units (another agent's)."""
    claim = (f"stock:{SKU}@{DONOR}",)
    if i % 2:
        return Proposal(proposal_id=f"race-{i}", agent="allocation", action="ReserveStock", sku=SKU, site=DONOR,
                        qty=QTY, value=QTY * 1.2, claims=claim,
                        command=c("ReserveStock", reservation_id=f"R-{i}", sku=SKU, site=DONOR,
                                  qty=QTY))
    receiver = RECEIVERS[i % len(RECEIVERS)]
    return Proposal(proposal_id=f"race-{i}", agent="rebalancing", action="DispatchTransfer", sku=SKU,
                    site=receiver, qty=QTY, value=QTY * 1.2, claims=claim,
                    command=c("DispatchTransfer", transfer_id=f"TR-{i}", sku=SKU, from_site=DONOR,
                              to_site=receiver, qty=QTY))


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_racing_proposals_on_one_donor_never_move_the_same_units(backend: str, tmp_path: Path) -> None:
    store = make_store(backend, tmp_path)
    try:
        seed(store)
        racers = 40
        barrier = threading.Barrier(racers)
        executed: list[Proposal] = []
        failed: list[str] = []
        lock = threading.Lock()

        def race(i: int) -> None:
            barrier.wait()
            # every racer read the donor before anyone moved: each believes all 100 units are there
            report = run_cycle(store, [proposal(i)], MinimalGate(max_auto_value=1e9),
                               available={f"stock:{SKU}@{DONOR}": ON_HAND})
            with lock:
                executed.extend(report.executed)
                failed.extend(error for _, error in report.failed)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        granted = ON_HAND // QTY
        assert len(executed) == granted and len(failed) == racers - granted
        assert all("available" in error for error in failed)
        catch_up(store)
        donor = positions(store, sku=SKU, site=DONOR)[0]
        moved = sum(p.qty for p in executed if p.action == "DispatchTransfer")
        reserved = sum(p.qty for p in executed if p.action == "ReserveStock")
        assert donor["on_hand"] == ON_HAND - moved and donor["reserved"] == reserved
        assert donor["available"] == ON_HAND - granted * QTY >= 0
        inbound = sum(r["in_transit"] for r in positions(store, sku=SKU) if r["site"] in RECEIVERS)
        assert inbound == moved
        # every proposal left its trace: made, then executed or failed
        assert len(store.load_view("documents", {"kind": "transfer"})) == sum(
            1 for p in executed if p.action == "DispatchTransfer")
    finally:
        drop_store(store)


def test_one_cycle_never_claims_more_than_the_donor_has(tmp_path: Path) -> None:
    store = make_store("sqlite", tmp_path)
    try:
        seed(store)
        problem = RebalanceProblem(
            sku=np.zeros(3, dtype=int), site=np.arange(3), on_hand=np.array([0.0, 100.0, 0.0]),
            stock_in_horizon=np.array([0.0, 100.0, 0.0]), demand_mean=np.array([8.0, 1.0, 8.0]),
            demand_sd=np.array([3.0, 1.0, 3.0]), horizon_days=np.full(3, 4.0), safety_stock=np.full(3, 2.0),
            shortage_cost=np.full(3, 20.0), n_sites=3,
            lanes=Lanes(source=np.array([1, 1]), destination=np.array([0, 2]), cost_per_unit=np.full(2, 0.05),
                        cost_per_shipment=np.full(2, 2.0), capacity=np.full(2, np.inf), transit_days=np.ones(2),
                        min_shipment=np.ones(2)))
        agent = RebalancingAgent()
        sites = [RECEIVERS[0], DONOR, RECEIVERS[1]]
        proposals = agent.propose(agent.plan(problem), sku=[SKU] * 3, site=sites, unit_cost=np.ones(3), label="D1")
        assert len(proposals) == 2
        # a second agent's stale plan wants the same units, and the donor really has only 60 now
        stale = [replace(p, proposal_id=p.proposal_id + "-again", agent="other",
                         command=replace(p.command, transfer_id=p.command.transfer_id + "b")) for p in proposals]
        report = run_cycle(store, proposals + stale, MinimalGate(max_auto_value=1e9),
                           available={f"stock:{SKU}@{DONOR}": 60})
        claimed = sum(p.qty for p in report.executed)
        assert claimed <= 60 and report.superseded >= 2
        catch_up(store)
        assert positions(store, sku=SKU, site=DONOR)[0]["on_hand"] == ON_HAND - claimed
    finally:
        drop_store(store)
