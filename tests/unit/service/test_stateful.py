"""Random command sequences against a plain model of the stock: after every step the read models
equal the model and the invariants hold (available >= 0, transfers conserve stock)."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up, verify
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import BatchRejected, execute
from tests.support.commands import c

SKUS = ["OAT-MILK-1L", "RYE-BREAD-500G"]
SITES = ["DC-LYON", "STORE-LYON-01", "STORE-LYON-02"]
SUPPLIER = "SUP-MILLS"
qty = st.integers(min_value=1, max_value=40)
sku = st.sampled_from(SKUS)
site = st.sampled_from(SITES)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryEventStore()
        setup = [c("RegisterSku", sku=s) for s in SKUS] + [c("RegisterSite", site=s) for s in SITES]
        setup.append(c("RegisterSite", site=SUPPLIER, kind="supplier"))
        execute(self.store, setup)
        self.model: dict[tuple[str, str], dict[str, int]] = defaultdict(
            lambda: {"on_hand": 0, "reserved": 0, "in_transit": 0, "on_order": 0})
        self.reservations: dict[str, list] = {}
        self.transfers: dict[str, list] = {}
        self.orders: dict[str, list] = {}
        self.n = 0

    def _run(self, command) -> bool:  # type: ignore[no-untyped-def]
        try:
            execute(self.store, [command])
            return True
        except BatchRejected:
            return False

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    @rule(s=sku, where=site, q=qty)
    def receive(self, s: str, where: str, q: int) -> None:
        assert self._run(c("ReceiveStock", sku=s, site=where, qty=q))
        self.model[(s, where)]["on_hand"] += q

    @rule(s=sku, where=site, q=qty)
    def ship(self, s: str, where: str, q: int) -> None:
        m = self.model[(s, where)]
        ok = self._run(c("ShipStock", sku=s, site=where, qty=q))
        assert ok == (q <= m["on_hand"] - m["reserved"])
        if ok:
            m["on_hand"] -= q

    @rule(s=sku, where=site, q=qty)
    def reserve(self, s: str, where: str, q: int) -> None:
        m = self.model[(s, where)]
        rid = self._id("R")
        ok = self._run(c("ReserveStock", reservation_id=rid, sku=s, site=where, qty=q))
        assert ok == (q <= m["on_hand"] - m["reserved"])
        if ok:
            m["reserved"] += q
            self.reservations[rid] = [s, where, q]

    @rule(data=st.data(), fulfil=st.booleans())
    def close_reservation(self, data: st.DataObject, fulfil: bool) -> None:
        open_ids = sorted(r for r, v in self.reservations.items() if v[2] > 0)
        if not open_ids:
            return
        rid = data.draw(st.sampled_from(open_ids))
        s, where, open_qty = self.reservations[rid]
        q = data.draw(st.integers(min_value=1, max_value=open_qty))
        m = self.model[(s, where)]
        ok = self._run(c("FulfilReservation" if fulfil else "ReleaseReservation", reservation_id=rid, qty=q))
        # A release always goes; a fulfilment ships reserved units, so it needs them on hand: a count
        # after the reservation may have found fewer (a reject site then refuses, nothing written).
        assert ok == (not fulfil or q <= m["on_hand"])
        if not ok:
            return
        m["reserved"] -= q
        if fulfil:
            m["on_hand"] -= q
        self.reservations[rid][2] -= q

    @rule(s=sku, src=site, dst=site, q=qty)
    def dispatch(self, s: str, src: str, dst: str, q: int) -> None:
        if src == dst:
            return
        m = self.model[(s, src)]
        tid = self._id("T")
        ok = self._run(c("DispatchTransfer", transfer_id=tid, sku=s, from_site=src, to_site=dst, qty=q))
        assert ok == (q <= m["on_hand"] - m["reserved"])
        if ok:
            m["on_hand"] -= q
            self.model[(s, dst)]["in_transit"] += q
            self.transfers[tid] = [s, dst, q]

    @rule(data=st.data())
    def receive_transfer(self, data: st.DataObject) -> None:
        if not self.transfers:
            return
        tid = data.draw(st.sampled_from(sorted(self.transfers)))
        s, dst, open_qty = self.transfers[tid]
        q = data.draw(st.integers(min_value=1, max_value=open_qty + 2))
        ok = self._run(c("ReceiveTransfer", transfer_id=tid, qty=q))
        assert ok == (q <= open_qty)  # never more than is in transit: no double receipt
        if ok:
            self.model[(s, dst)]["in_transit"] -= q
            self.model[(s, dst)]["on_hand"] += q
            self.transfers[tid][2] -= q

    @rule(s=sku, where=site, q=qty)
    def order(self, s: str, where: str, q: int) -> None:
        po = self._id("PO")
        assert self._run(c("PlacePurchaseOrder", po_id=po, sku=s, site=where, supplier=SUPPLIER, qty=q))
        self.model[(s, where)]["on_order"] += q
        self.orders[po] = [s, where, q]

    @rule(data=st.data(), cancel=st.booleans())
    def close_order(self, data: st.DataObject, cancel: bool) -> None:
        open_ids = sorted(p for p, v in self.orders.items() if v[2] > 0)
        if not open_ids:
            return
        po = data.draw(st.sampled_from(open_ids))
        s, where, open_qty = self.orders[po]
        m = self.model[(s, where)]
        if cancel:
            assert self._run(c("CancelPurchaseOrder", po_id=po))
            m["on_order"] -= open_qty
            self.orders[po][2] = 0
            return
        q = data.draw(st.integers(min_value=1, max_value=open_qty))
        assert self._run(c("ReceivePurchaseOrder", po_id=po, qty=q))
        m["on_order"] -= q
        m["on_hand"] += q
        self.orders[po][2] -= q

    @rule(s=sku, where=site, counted=st.integers(min_value=0, max_value=60))
    def count(self, s: str, where: str, counted: int) -> None:
        assert self._run(c("RecordCount", sku=s, site=where, counted=counted))
        self.model[(s, where)]["on_hand"] = counted

    @invariant()
    def projections_equal_model(self) -> None:
        catch_up(self.store)
        got = {(r["sku"], r["site"]): r for r in positions(self.store)}
        for key, m in self.model.items():
            row = got.get(key, {"on_hand": 0, "reserved": 0, "in_transit": 0, "on_order": 0})
            assert {k: row[k] for k in m} == m, key

    @invariant()
    def available_never_negative_except_after_a_count(self) -> None:
        for r in positions(self.store):
            if not r["flagged"]:
                assert r["available"] >= 0

    def teardown(self) -> None:
        assert verify(self.store).ok


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
