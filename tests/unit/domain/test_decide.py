"""Business rules of the stock aggregate, through decide/evolve with an in-memory state map."""

from __future__ import annotations

from functools import reduce

import pytest

from stockmesh.domain.decide import decide
from stockmesh.domain.errors import AlreadyExists, InsufficientStock, InvalidTransition, UnknownEntity
from stockmesh.domain.evolve import evolve
from stockmesh.domain.model import StockState
from tests.support.commands import DC, SKU, STORE, SUPPLIER, c, network


class World:
    def __init__(self, negative_stock: str = "reject") -> None:
        self.states: dict = {}
        self.log: list = []
        for command in network(negative_stock):
            self.run(command)

    def run(self, command):  # type: ignore[no-untyped-def]
        decision = decide(command, self.states.get)
        for stream, event in decision:
            self.states[stream] = evolve(stream, self.states.get(stream), event)
            self.log.append((stream, event))
        return [e for _, e in decision]

    def stock(self, site: str = STORE) -> StockState:
        return self.states.get(f"stock:{SKU}@{site}", StockState())


def test_ship_beyond_available_is_refused_under_reject():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    w.run(c("ReserveStock", reservation_id="R", sku=SKU, site=STORE, qty=4))
    with pytest.raises(InsufficientStock) as info:
        w.run(c("ShipStock", sku=SKU, site=STORE, qty=7))
    assert info.value.field == "qty"
    w.run(c("ShipStock", sku=SKU, site=STORE, qty=6))
    assert w.stock().available == 0


def test_allow_policy_goes_negative_and_flags():
    w = World(negative_stock="allow")
    events = w.run(c("ShipStock", sku=SKU, site=STORE, qty=3))
    assert [e.type for e in events] == ["StockShipped", "PositionFlagged"]
    assert w.stock().on_hand == -3 and w.stock().flagged
    events = w.run(c("RecordCount", sku=SKU, site=STORE, counted=2))
    assert [e.type for e in events] == ["StockCounted", "PositionFlagCleared"]
    assert events[0].variance == 5 and not w.stock().flagged


def test_unknown_sku_and_site_are_named():
    w = World()
    with pytest.raises(UnknownEntity) as info:
        w.run(c("ReceiveStock", sku="NOPE", site=STORE, qty=1))
    assert info.value.field == "sku"
    with pytest.raises(UnknownEntity) as info:
        w.run(c("ReceiveStock", sku=SKU, site="NOWHERE", qty=1))
    assert info.value.field == "site"


def test_transfer_conserves_stock_and_cannot_be_received_twice():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=DC, qty=50))
    w.run(c("DispatchTransfer", transfer_id="T", sku=SKU, from_site=DC, to_site=STORE, qty=30))
    assert (w.stock(DC).on_hand, w.stock(STORE).in_transit) == (20, 30)
    w.run(c("ReceiveTransfer", transfer_id="T", qty=25))
    w.run(c("DeclareTransferLoss", transfer_id="T", qty=5))
    assert w.stock(DC).on_hand + w.stock(STORE).on_hand + w.stock(STORE).in_transit == 45
    with pytest.raises(InvalidTransition):
        w.run(c("ReceiveTransfer", transfer_id="T", qty=1))
    with pytest.raises(AlreadyExists):
        w.run(c("DispatchTransfer", transfer_id="T", sku=SKU, from_site=DC, to_site=STORE, qty=1))


def test_purchase_order_partial_receipt_and_cancel():
    w = World()
    w.run(c("PlacePurchaseOrder", po_id="PO", sku=SKU, site=STORE, supplier=SUPPLIER, qty=60))
    w.run(c("ReceivePurchaseOrder", po_id="PO", qty=20, lot="L9", expiry="2027-02-01"))
    with pytest.raises(InvalidTransition):
        w.run(c("ReceivePurchaseOrder", po_id="PO", qty=41))
    events = w.run(c("CancelPurchaseOrder", po_id="PO"))
    assert events[0].qty == 40
    assert (w.stock().on_hand, w.stock().on_order, w.stock().lot_on_hand("L9")) == (20, 0, 20)
    with pytest.raises(InvalidTransition):
        w.run(c("CancelPurchaseOrder", po_id="PO"))


def test_purchase_order_needs_a_supplier_site():
    w = World()
    with pytest.raises(InvalidTransition) as info:
        w.run(c("PlacePurchaseOrder", po_id="PO", sku=SKU, site=STORE, supplier=DC, qty=1))
    assert info.value.field == "supplier"


def test_lots_ship_first_expiry_first_and_expire():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=5, lot="LATE", expiry="2027-06-01"))
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=5, lot="SOON", expiry="2027-01-01"))
    events = w.run(c("ShipStock", sku=SKU, site=STORE, qty=7))
    assert events[0].lots == [["SOON", 5], ["LATE", 2]]
    w.run(c("QuarantineStock", sku=SKU, site=STORE, qty=1, lot="LATE"))
    events = w.run(c("ExpireLot", sku=SKU, site=STORE, lot="LATE"))
    assert (events[0].on_hand, events[0].quarantined) == (2, 1)
    assert (w.stock().on_hand, w.stock().quarantined, w.stock().lots) == (0, 0, {})


def test_quarantine_and_release():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    w.run(c("QuarantineStock", sku=SKU, site=STORE, qty=4))
    assert (w.stock().on_hand, w.stock().quarantined, w.stock().available) == (6, 4, 6)
    with pytest.raises(InsufficientStock):
        w.run(c("ReleaseQuarantine", sku=SKU, site=STORE, qty=5))
    w.run(c("ReleaseQuarantine", sku=SKU, site=STORE, qty=4))
    assert w.stock().on_hand == 10


def test_reservation_release_and_fulfil():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    w.run(c("ReserveStock", reservation_id="R", sku=SKU, site=STORE, qty=8))
    w.run(c("FulfilReservation", reservation_id="R", qty=3))
    w.run(c("ReleaseReservation", reservation_id="R"))
    assert (w.stock().on_hand, w.stock().reserved) == (7, 0)
    with pytest.raises(InvalidTransition):
        w.run(c("FulfilReservation", reservation_id="R"))
    with pytest.raises(UnknownEntity):
        w.run(c("ReleaseReservation", reservation_id="NOPE"))


def test_backorders():
    w = World()
    w.run(c("RecordBackorder", sku=SKU, site=STORE, qty=4))
    assert w.stock().inventory_position == -4
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    with pytest.raises(InvalidTransition):
        w.run(c("FillBackorder", sku=SKU, site=STORE, qty=5))
    w.run(c("FillBackorder", sku=SKU, site=STORE, qty=4))
    assert (w.stock().on_hand, w.stock().backordered) == (6, 0)


def test_replay_is_reduce_over_events():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    w.run(c("ShipStock", sku=SKU, site=STORE, qty=3))
    stream = f"stock:{SKU}@{STORE}"
    events = [e for s, e in w.log if s == stream]
    assert reduce(lambda st, e: evolve(stream, st, e), events, None) == w.stock()


def test_reregistering_identically_is_a_no_op():
    w = World()
    assert w.run(c("RegisterSku", sku=SKU, unit_cost=1.2, pack_size=6)) == []
    assert len(w.run(c("RegisterSku", sku=SKU, unit_cost=1.5, pack_size=6))) == 1
    with pytest.raises(AlreadyExists):
        w.run(c("RegisterSite", site=STORE, kind="dc"))


def test_record_sales_is_one_batch_of_shipments():
    w = World()
    w.run(c("RegisterSku", sku="RYE-BREAD-500G"))
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=10))
    w.run(c("ReceiveStock", sku="RYE-BREAD-500G", site=STORE, qty=4))
    lines = [{"sku": SKU, "qty": 3}, {"sku": "RYE-BREAD-500G", "qty": 4}, {"sku": SKU, "qty": 5}]
    events = w.run(c("RecordSales", site=STORE, lines=lines))
    assert [e.type for e in events] == ["StockShipped"] * 3
    assert w.stock().on_hand == 2
    with pytest.raises(InsufficientStock) as info:  # the same SKU twice counts cumulatively
        w.run(c("RecordSales", site=STORE, lines=[{"sku": SKU, "qty": 2}, {"sku": SKU, "qty": 1}]))
    assert info.value.field == "lines[1].qty"
    with pytest.raises(UnknownEntity) as info:
        w.run(c("RecordSales", site=STORE, lines=[{"sku": "NOPE", "qty": 1}]))
    assert info.value.field == "lines[0].sku"
    assert w.stock().on_hand == 2


def test_record_sales_takes_lots_first_expiry_first_across_lines():
    w = World()
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=3, lot="SOON", expiry="2027-01-01"))
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=3, lot="LATE", expiry="2027-06-01"))
    events = w.run(c("RecordSales", site=STORE, lines=[{"sku": SKU, "qty": 2}, {"sku": SKU, "qty": 2}]))
    assert [e.lots for e in events] == [[["SOON", 2]], [["SOON", 1], ["LATE", 1]]]
    assert w.stock().lots == {"LATE": [2, 0, "2027-06-01"]}


def test_record_sales_at_an_allow_site_flags_once():
    w = World(negative_stock="allow")
    w.run(c("ReceiveStock", sku=SKU, site=STORE, qty=2))
    events = w.run(c("RecordSales", site=STORE, lines=[{"sku": SKU, "qty": 2}, {"sku": SKU, "qty": 3},
                                                       {"sku": SKU, "qty": 1}]))
    assert [e.type for e in events] == ["StockShipped", "StockShipped", "PositionFlagged", "StockShipped"]
    assert w.stock().on_hand == -4 and w.stock().flagged
