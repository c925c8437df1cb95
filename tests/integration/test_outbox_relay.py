"""Outbox and inbox against every store backend (memory, SQLite, PostgreSQL): actions and their
messages in one transaction, delivery at least once with the effect once, concurrent redelivery
of inbound messages applied once."""

from __future__ import annotations

import threading

from stockmesh.adapters.fake_wms import FakeWms
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service import outbox
from stockmesh.service.execute import BatchRejected
from stockmesh.service.inbox import Inbox
from tests.support.commands import DC, SKU, STORE, SUPPLIER, c, network


def no_wait(_state) -> float:  # type: ignore[no-untyped-def]
    return 0.0


def test_relay_delivers_each_action_once_despite_failures(store) -> None:  # type: ignore[no-untyped-def]
    outbox.execute_with_outbox(store, network())
    outbox.execute_with_outbox(store, [c("PlacePurchaseOrder", po_id=f"PO-{i}", sku=SKU, site=STORE,
                                         supplier=SUPPLIER, qty=6) for i in range(10)])
    try:  # a failed action enqueues nothing: the message shares the command's transaction
        outbox.execute_with_outbox(store, [c("PlacePurchaseOrder", po_id="PO-X", sku=SKU, site=STORE,
                                             supplier=STORE, qty=6)])
    except BatchRejected:
        pass
    assert outbox.counts(store)["pending"] == 10
    wms = FakeWms(fail_next=4, lose_reply_next=3)
    relay = outbox.OutboxRelay(store, routes={"purchase_order.*": [wms]}, call_attempts=1, retry_wait=no_wait,
                               call_wait=no_wait)
    for _ in range(10):
        relay.run_once()
    assert outbox.counts(store) == {"pending": 0, "delivered": 10, "dead": 0}
    assert wms.effects == 10 and len(wms.orders) == 10


def test_inbound_messages_delivered_three_times_concurrently_apply_once(store) -> None:  # type: ignore[no-untyped-def]
    outbox.execute_with_outbox(store, network())
    wms = FakeWms()
    messages = [wms.receive(SKU, DC if i % 2 else STORE, 1 + i) for i in range(12)]
    inbox = Inbox(store, "wms")
    statuses: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(3)

    def deliver(message) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        for _ in range(5):  # the ledger may ask a concurrent writer to retry
            try:
                result = inbox.apply(message.message_id, message.commands)
                break
            except Exception:  # noqa: BLE001 - e.g. ConcurrencyError: retry as a consumer would
                continue
        with lock:
            statuses.append(result.status)

    for message in messages:
        threads = [threading.Thread(target=deliver, args=(message,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count("applied") == 12 and statuses.count("duplicate") == 24
    catch_up(store)
    totals = {r["site"]: r["on_hand"] for r in positions(store)}
    assert totals == {DC: sum(1 + i for i in range(12) if i % 2), STORE: sum(1 + i for i in range(12) if not i % 2)}
