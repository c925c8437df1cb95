"""The outbox relay with the in-process bus and the fake WMS: at least once, effect once; jittered
retries; dead letters visible and replayable; signed webhooks; the inbox applies a message once."""

from __future__ import annotations

import importlib.util
import threading
from datetime import UTC, datetime

import orjson
import pytest

from stockmesh.adapters.fake_wms import FakeWms
from stockmesh.domain.clock import ManualClock
from stockmesh.domain.errors import InvalidInput
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service import outbox
from stockmesh.service.bus import BusMessage, site_token, subject_for, subject_matches
from stockmesh.service.inbox import Inbox, message_handler
from stockmesh.service.inprocess_bus import InProcessBus
from tests.conftest import need
from tests.support.commands import DC, SKU, STORE, SUPPLIER, c, network


def no_wait(_state) -> float:  # type: ignore[no-untyped-def]
    return 0.0


def with_orders(n: int = 3) -> MemoryEventStore:
    store = MemoryEventStore()
    outbox.execute_with_outbox(store, network())
    outbox.execute_with_outbox(store, [c("PlacePurchaseOrder", po_id=f"PO-{i}", sku=SKU, site=STORE,
                                         supplier=SUPPLIER, qty=12) for i in range(n)])
    return store


def relay(store, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("retry_wait", no_wait)
    kw.setdefault("call_wait", no_wait)
    return outbox.OutboxRelay(store, **kw)


def test_subjects_are_partitioned_by_site() -> None:
    assert subject_for("purchase_order.placed", "STORE-LYON-02") == "stockmesh.purchase_order.placed.STORE-LYON-02"
    assert site_token("DC.PARIS*1") == "DC%2EPARIS%2A1"
    assert subject_matches("stockmesh.*.*.STORE-1", "stockmesh.transfer.dispatched.STORE-1")
    assert subject_matches("stockmesh.>", "stockmesh.a.b")
    assert not subject_matches("stockmesh.*", "stockmesh.a.b")


def test_actions_enqueue_in_their_transaction_and_duplicates_enqueue_nothing() -> None:
    store = with_orders(2)
    assert outbox.counts(store)["pending"] == 2
    again = c("PlacePurchaseOrder", po_id="PO-0", sku=SKU, site=STORE, supplier=SUPPLIER, qty=12,
              idempotency_key="dup-key")
    outbox.execute_with_outbox(store, [again], all_or_nothing=False)  # rejected (exists): no message
    assert outbox.counts(store)["pending"] == 2


def test_lost_replies_are_retried_and_the_effect_happens_once() -> None:
    store = with_orders(3)
    wms = FakeWms(lose_reply_next=2, fail_next=1)
    report = relay(store, routes={"purchase_order.*": [wms]}, call_attempts=1).run_once()
    assert report.retried == 3  # one 503, two lost replies
    report = relay(store, routes={"purchase_order.*": [wms]}).run_once()
    assert report.delivered == 3 and outbox.counts(store) == {"pending": 0, "delivered": 3, "dead": 0}
    assert wms.effects == 3 and wms.deliveries == 6  # six calls, three orders
    assert sorted(p["po_id"] for p in wms.orders.values()) == ["PO-0", "PO-1", "PO-2"]


def test_in_call_retries_are_bounded_and_jittered_waits_schedule_the_next_attempt() -> None:
    store = with_orders(1)
    wms = FakeWms(fail_next=2)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    r = outbox.OutboxRelay(store, routes={">": [wms]}, call_attempts=3, call_wait=no_wait, clock=ManualClock(now))
    assert r.run_once().delivered == 1 and wms.deliveries == 3  # two failures absorbed in the call
    store = with_orders(1)
    wms = FakeWms(down=True)
    r = outbox.OutboxRelay(store, routes={">": [wms]}, call_attempts=2, call_wait=no_wait, clock=ManualClock(now))
    assert r.run_once().retried == 1
    (entry,) = store.outbox_entries(status="pending")
    assert entry.attempts == 1 and entry.next_attempt_at > now.isoformat() and "unreachable" in entry.last_error
    assert r.run_once().retried == 0  # not due yet


def test_dead_letter_after_n_failures_visible_and_replayable() -> None:
    store = with_orders(1)
    wms = FakeWms(down=True)
    r = relay(store, routes={">": [wms]}, max_attempts=3, call_attempts=1)
    for _ in range(3):
        r.run_once()
    (dead,) = outbox.outbox_list(store, status="dead")
    assert dead.attempts == 3 and "unreachable" in dead.last_error
    wms.down = False
    assert r.run_once().delivered == 0  # dead letters are not retried by themselves
    replayed = outbox.replay(store, dead.seq)
    assert replayed.status == "pending" and replayed.attempts == 0
    assert r.run_once().delivered == 1 and wms.effects == 1
    with pytest.raises(InvalidInput, match="no outbox message"):
        outbox.replay(store, 999)


def test_refusal_is_dead_at_once() -> None:
    store = with_orders(1)
    report = relay(store, routes={">": [FakeWms(refuse_topics={"purchase_order.placed"})]}).run_once()
    assert report.dead == 1


def test_bus_outage_costs_no_attempts_and_drains_after() -> None:
    store = with_orders(5)
    bus = InProcessBus()
    bus.down()
    r = relay(store, bus=bus)
    report = r.run_once()
    assert report.bus_down and report.deferred == 5
    assert all(e.attempts == 0 for e in store.outbox_entries(status="pending"))
    bus.up()
    assert r.run_once().delivered == 5
    assert [m.subject for m in bus.messages] == [subject_for("purchase_order.placed", STORE)] * 5


def test_relay_thread_drains_while_the_bus_flaps() -> None:
    store = with_orders(20)
    bus = InProcessBus()
    bus.down()
    stop = threading.Event()
    r = relay(store, bus=bus)
    worker = threading.Thread(target=r.run, args=(stop,), kwargs={"idle": 0.01, "max_backoff": 0.05})
    worker.start()
    try:
        threading.Event().wait(0.2)
        bus.up()
        assert outbox.sleep_until_drained(store, 5)
    finally:
        stop.set()
        worker.join(5)
    assert len(bus.messages) == 20


def test_webhooks_are_signed_and_carry_the_idempotency_key() -> None:
    need(importlib.util.find_spec("httpx") is not None, "httpx is not installed (the [api] extra)")
    import httpx

    from stockmesh.adapters.webhooks import SIGNATURE_HEADER, WebhookSink, verify_signature

    seen: list[httpx.Request] = []
    status = iter([503, 200, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(status))

    sink = WebhookSink("https://erp.example/hooks", "s3cret", client=httpx.Client(transport=httpx.MockTransport(handler)))
    store = with_orders(1)
    assert relay(store, routes={"purchase_order.*": [sink]}).run_once().delivered == 1
    assert len(seen) == 2  # retried after the 503
    request = seen[-1]
    assert request.headers["Idempotency-Key"] == seen[0].headers["Idempotency-Key"]
    verify_signature(b"s3cret", request.content, request.headers[SIGNATURE_HEADER])
    with pytest.raises(InvalidInput, match="does not match"):
        verify_signature(b"s3cret", request.content + b" ", request.headers[SIGNATURE_HEADER])
    with pytest.raises(InvalidInput, match="tolerance"):
        verify_signature(b"s3cret", request.content, request.headers[SIGNATURE_HEADER], now=10.0)
    refused = WebhookSink("https://erp.example/hooks", "s3cret",
                          client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(422))))
    assert relay(with_orders(1), routes={">": [refused]}).run_once().dead == 1


def test_every_inbound_message_delivered_three_times_also_concurrently_applies_once() -> None:
    store = MemoryEventStore()
    outbox.execute_with_outbox(store, network())
    wms = FakeWms()
    messages = [wms.receive(SKU, DC, 10 + i) for i in range(20)]
    inbox = Inbox(store, "wms")
    results: list[str] = []
    lock = threading.Lock()

    def deliver(message) -> None:  # type: ignore[no-untyped-def]
        outcome = inbox.apply(message.message_id, message.commands)
        with lock:
            results.append(outcome.status)

    for message in messages[:10]:  # sequential redeliveries
        for _ in range(3):
            deliver(message)
    threads = [threading.Thread(target=deliver, args=(m,)) for m in messages[10:] for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("applied") == 20 and results.count("duplicate") == 40
    catch_up(store)
    (row,) = [r for r in positions(store) if r["site"] == DC]
    assert row["on_hand"] == sum(10 + i for i in range(20))


def test_bus_redelivery_after_a_failed_handler_applies_once() -> None:
    store = MemoryEventStore()
    outbox.execute_with_outbox(store, network())
    bus = InProcessBus()
    inbox = Inbox(store, "bus")
    crash = {"left": 1}
    handle = message_handler(inbox)

    def crashing(message: BusMessage) -> None:
        handle(message)  # committed ...
        if crash["left"]:
            crash["left"] -= 1
            raise RuntimeError("consumer died before the ack")

    body = orjson.dumps({"commands": [{"command": "ReceiveStock", "sku": SKU, "site": DC, "qty": 7}]})
    for _ in range(3):
        bus.publish(subject_for("inbound.receipt", DC), body, message_id="WMS-1")  # de-duplicated
    bus.subscribe("ledger", "stockmesh.>", crashing)
    assert bus.pump("ledger") == 0 and bus.pending("ledger") == 1
    assert bus.pump("ledger") == 1 and bus.pending("ledger") == 0
    catch_up(store)
    assert [r["on_hand"] for r in positions(store) if r["site"] == DC] == [7]


def test_malformed_and_conflicting_messages_are_rejected_not_retried() -> None:
    store = MemoryEventStore()
    outbox.execute_with_outbox(store, network())
    rejected: list[str] = []
    handle = message_handler(Inbox(store, "bus"), on_rejected=lambda m, e: rejected.append(str(e)))
    handle(BusMessage("s", "m-1", b"not json"))
    handle(BusMessage("s", "m-2", orjson.dumps({"command": "ReceiveStock", "sku": SKU, "site": DC, "qty": -1})))
    handle(BusMessage("s", "m-3", orjson.dumps({"command": "ReceiveStock", "sku": SKU, "site": DC, "qty": 1})))
    handle(BusMessage("s", "m-3", orjson.dumps({"command": "ReceiveStock", "sku": SKU, "site": DC, "qty": 2})))
    assert len(rejected) == 3
    assert "commands[0].qty" in rejected[1] and "already used" in rejected[2]
