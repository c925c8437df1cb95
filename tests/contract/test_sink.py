"""One contract for the ``Sink`` port (``service.sink``), run against every sink the outbox relay
routes to: the fake WMS/ERP, a webhook to a real HTTP server on 127.0.0.1, and the X12 850
directory. Each takes effect once per message id, turns every failure into ``DeliveryFailed``
(transient or permanent, as retrying can help or not), ignores topics it does not take, and,
driven by the relay, receives messages in enqueue order."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stockmesh.domain.errors import StockmeshError
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.ledger.records import OutboxMessage
from stockmesh.service.outbox import OutboxRelay
from stockmesh.service.sink import DeliveryFailed, OutboundMessage, Sink


def order(po_id: str, **fields: Any) -> OutboundMessage:
    payload = {"command": "PlacePurchaseOrder", "po_id": po_id, "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
               "supplier": "SUP-OATLY", "qty": 48, **fields}
    raw = json.dumps(payload).encode()
    return OutboundMessage(f"out:{po_id}", "purchase_order.placed", payload, raw, "2026-11-26T09:30:00+00:00")


class Driver:
    """A sink under test and what its receiver saw."""

    sink: Any
    ignored_topic: str | None = None  # a topic it does not take (None: it takes every topic)
    sees_order = True  # the receiver can tell in which order messages arrived

    def effects(self) -> list[str]:
        """The message ids that took effect at the receiver, in arrival order, repeats included."""
        raise NotImplementedError

    def transient_failure(self) -> AbstractContextManager[None]:
        """While inside, the receiver fails the way a later attempt can get past."""
        raise NotImplementedError

    def refused(self) -> OutboundMessage:
        """A message the receiver refuses for good."""
        raise NotImplementedError

    def lose_next_reply(self) -> bool:
        """Apply the next message, then lose the reply (False: no such failure for this sink)."""
        return False

    def close(self) -> None:
        pass


class FakeWmsDriver(Driver):
    def __init__(self, _tmp: Path) -> None:
        from stockmesh.adapters.fake_wms import FakeWms

        self.sink = FakeWms()

    def effects(self) -> list[str]:
        return list(self.sink.orders)

    @contextmanager
    def transient_failure(self) -> Iterator[None]:
        self.sink.down = True
        try:
            yield
        finally:
            self.sink.down = False

    def refused(self) -> OutboundMessage:
        self.sink.refuse_topics.add("purchase_order.cancelled")
        return OutboundMessage("out:cancel-1", "purchase_order.cancelled", {"command": "CancelPurchaseOrder",
                                                                           "po_id": "PO-1"}, b"{}", "2026-11-26")

    def lose_next_reply(self) -> bool:
        self.sink.lose_reply_next = 1
        return True


class Receiver(ThreadingHTTPServer):
    """An ERP's webhook endpoint: checks the signature, applies an order once per Idempotency-Key."""

    secret = b"s3cret"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.applied: list[str] = []
        self.requests = 0
        self.mode = "ok"  # "unavailable": 503; "lose-reply": apply, then hang up without answering
        self.refuse: set[str] = set()


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *_args: Any) -> None:
        pass

    def do_POST(self) -> None:
        from stockmesh.adapters.webhooks import SIGNATURE_HEADER, verify_signature

        body = self.rfile.read(int(self.headers["Content-Length"]))
        server, key = self.server, self.headers["Idempotency-Key"]
        server.requests += 1
        try:
            verify_signature(server.secret, body, self.headers[SIGNATURE_HEADER])
        except StockmeshError:
            return self._answer(401)
        if server.mode == "unavailable":
            return self._answer(503)
        if key in server.refuse:
            return self._answer(422)
        if key not in server.applied:
            server.applied.append(key)
        if server.mode == "lose-reply":
            server.mode = "ok"
            self.close_connection = True
            return  # applied, but the reply never goes out
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookDriver(Driver):
    ignored_topic = "reservation.opened"

    def __init__(self, _tmp: Path) -> None:
        from stockmesh.adapters.webhooks import WebhookSink

        self.server = Receiver()
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.sink = WebhookSink(f"http://{host!s}:{port}/hooks", Receiver.secret, timeout=5,
                                topics=("purchase_order.placed", "purchase_order.cancelled"))

    def effects(self) -> list[str]:
        return list(self.server.applied)

    @contextmanager
    def transient_failure(self) -> Iterator[None]:
        self.server.mode = "unavailable"
        try:
            yield
        finally:
            self.server.mode = "ok"

    def refused(self) -> OutboundMessage:
        self.server.refuse.add("out:PO-REFUSED")
        return order("PO-REFUSED")

    def lose_next_reply(self) -> bool:
        self.server.mode = "lose-reply"
        return True

    def close(self) -> None:
        self.sink.close()
        self.server.shutdown()
        self.server.server_close()


class X12Driver(Driver):
    ignored_topic = "transfer.dispatched"
    sees_order = False  # files only: their times are too coarse to order writes a moment apart

    def __init__(self, tmp: Path) -> None:
        from stockmesh.adapters import x12

        self.x12, self.directory = x12, tmp / "x12-out"
        self.sink = x12.X12OrderSink(self.directory)
        self.sent: list[str] = []

    def effects(self) -> list[str]:
        by_control = {f"{self.x12.control_number(m):09d}.850": m for m in self.sent}
        files = sorted(p.name for p in self.directory.glob("*.850")) if self.directory.is_dir() else []
        return [by_control.get(name, name) for name in files]

    @contextmanager
    def transient_failure(self) -> Iterator[None]:
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self.directory.write_text("not a directory")  # a full or unmounted disk would fail alike
        try:
            yield
        finally:
            self.directory.unlink()

    def refused(self) -> OutboundMessage:
        message = order("PO-NO-SKU")
        return OutboundMessage(message.message_id, message.topic,
                               {k: v for k, v in message.payload.items() if k != "sku"}, message.raw,
                               message.created_at)


DRIVERS = {"fake-wms": FakeWmsDriver, "webhook": WebhookDriver, "x12-directory": X12Driver}


def _made(kind: str, tmp_path: Path) -> Iterator[Driver]:
    made = DRIVERS[kind](tmp_path)
    assert isinstance(made.sink, Sink)
    yield made
    made.close()


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    yield from _made(request.param, tmp_path)


@pytest.fixture(params=["fake-wms", "webhook"])
def replying_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    """The sinks whose receiver answers (a file written has no reply to lose)."""
    yield from _made(request.param, tmp_path)


@pytest.fixture(params=["webhook", "x12-directory"])
def choosy_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    """The sinks that take some topics only (the fake WMS takes every one)."""
    yield from _made(request.param, tmp_path)


def deliver(driver: Driver, message: OutboundMessage) -> None:
    if isinstance(driver, X12Driver):
        driver.sent.append(message.message_id)
    driver.sink.deliver(message)


def test_a_message_takes_effect_once_however_often_delivered(driver: Driver) -> None:
    first, second = order("PO-1"), order("PO-2")
    deliver(driver, first)
    deliver(driver, first)  # the relay crashed between "sent" and "marked delivered"
    deliver(driver, second)
    deliver(driver, OutboundMessage(first.message_id, first.topic, first.payload, first.raw, first.created_at,
                                    attempt=3))
    assert Counter(driver.effects()) == {"out:PO-1": 1, "out:PO-2": 1}


def test_a_transient_failure_is_delivery_failed_and_a_retry_delivers(driver: Driver) -> None:
    message = order("PO-1")
    with driver.transient_failure(), pytest.raises(DeliveryFailed) as info:
        deliver(driver, message)
    assert not info.value.permanent and isinstance(info.value, StockmeshError)
    assert driver.effects() == []
    deliver(driver, message)
    assert driver.effects() == ["out:PO-1"]


def test_a_refused_message_is_a_permanent_failure(driver: Driver) -> None:
    with pytest.raises(DeliveryFailed) as info:
        deliver(driver, driver.refused())
    assert info.value.permanent
    assert driver.effects() == []


def test_a_lost_reply_then_a_retry_takes_effect_once(replying_driver: Driver) -> None:
    driver = replying_driver
    assert driver.lose_next_reply()
    message = order("PO-1")
    with pytest.raises(DeliveryFailed) as info:
        deliver(driver, message)
    assert not info.value.permanent  # the sender cannot know it arrived: it must try again
    deliver(driver, message)
    assert driver.effects() == ["out:PO-1"]


def test_a_topic_it_does_not_take_is_no_error_and_no_effect(choosy_driver: Driver) -> None:
    driver = choosy_driver
    assert driver.ignored_topic is not None
    deliver(driver, OutboundMessage("out:other-1", driver.ignored_topic, {"sku": "OAT-MILK-1L"}, b"{}", "2026-11-26"))
    assert driver.effects() == []


def test_the_relay_hands_it_messages_in_enqueue_order_once(driver: Driver) -> None:
    store = MemoryEventStore()
    messages = [order(po) for po in ("PO-3", "PO-1", "PO-2")]
    with store.write() as session:
        session.append([], {}, [], {}, outbox=[OutboxMessage(m.message_id, m.topic, m.raw.decode(), m.created_at)
                                               for m in messages])
    if isinstance(driver, X12Driver):
        driver.sent += [m.message_id for m in messages]
    relay = OutboxRelay(store, routes={"purchase_order.*": [driver.sink]})
    assert relay.run_once().delivered == 3
    assert relay.run_once().delivered == 0  # delivered messages are not sent again
    effects = driver.effects()
    if driver.sees_order:
        assert effects == ["out:PO-3", "out:PO-1", "out:PO-2"]
    assert Counter(effects) == Counter(m.message_id for m in messages)
    assert {e.status for e in store.outbox_entries(status=None)} == {"delivered"}
