"""One contract for the ``Bus`` port, run against the in-process bus and NATS JetStream (the shared
server at 127.0.0.1:4222; the outage test runs a server of its own and kills it).

Publishing is the port (what the outbox relay uses); consumers are attached the way each bus
attaches them (pumped in process, a background consumer on NATS), through a small driver per
bus, and both are held to the same semantics: stored once per message id, delivered in order,
partitioned by site, redelivered after a failed handler until ``max_deliver``, durable, and an
outage raised as ``BusUnavailable`` (a ``BusError``, a ``StockmeshError``)."""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from stockmesh.domain.errors import StockmeshError
from stockmesh.service.bus import Bus, BusError, BusMessage, BusUnavailable, site_token, subject_for
from stockmesh.service.inprocess_bus import InProcessBus
from tests.conftest import need, port_open

SHARED_NATS = "nats://127.0.0.1:4222"
SITES = ("STORE-LYON-02", "STORE-NICE-01", "DC.LYON")
Fails = Callable[[BusMessage], bool]


def _never(_message: BusMessage) -> bool:
    return False


class Driver:
    """A bus under test and how to consume from it."""

    bus: Any
    root: str

    def subject(self, site: str, topic: str = "inbound.receipt") -> str:
        return subject_for(topic, site, self.root)

    def receive(self, durable: str, subject_filter: str, acked: int, *, fails: Fails = _never,
                max_deliver: int = 10) -> list[BusMessage]:
        """Every delivery to consumer ``durable`` (failed ones included, in order) until ``acked``
        messages were acknowledged and nothing more comes; ``fails`` says which deliveries the
        handler raises on."""
        raise NotImplementedError

    def outage(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def close(self) -> None:
        self.bus.close()


class InProcessDriver(Driver):
    def __init__(self) -> None:
        self.bus, self.root = InProcessBus(), "stockmesh"

    def receive(self, durable: str, subject_filter: str, acked: int, *, fails: Fails = _never,
                max_deliver: int = 10) -> list[BusMessage]:
        seen: list[BusMessage] = []

        def handler(message: BusMessage) -> None:
            seen.append(message)
            if fails(message):
                raise RuntimeError("handler failed")

        self.bus.max_deliver = max_deliver
        self.bus.subscribe(durable, subject_filter, handler)
        done = 0
        for _ in range(max_deliver + 2):  # enough pumps for every redelivery, and one to see nothing comes
            done += self.bus.pump(durable)
        self.bus.unsubscribe(durable)
        assert done == acked, f"{done} acknowledged, expected {acked}"
        return seen

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.bus.down()
        try:
            yield
        finally:
            self.bus.up()


class NatsDriver(Driver):
    def __init__(self, url: str = SHARED_NATS, *, own: Any = None, timeout: float = 5.0) -> None:
        from stockmesh.adapters.nats_bus import NatsBus

        self.root = f"t{uuid.uuid4().hex[:10]}"
        self.own = own
        self.bus = NatsBus(url, stream=self.root.upper(), subjects=[f"{self.root}.>"],
                           memory_storage=own is None, timeout=timeout)

    def receive(self, durable: str, subject_filter: str, acked: int, *, fails: Fails = _never,
                max_deliver: int = 10) -> list[BusMessage]:
        seen: list[BusMessage] = []
        ok: list[str] = []

        def handler(message: BusMessage) -> None:
            seen.append(message)
            if fails(message):
                raise RuntimeError("handler failed")
            ok.append(message.message_id)

        consumer = self.bus.consume(durable, subject_filter, handler, max_deliver=max_deliver, nak_delay=0.05,
                                    batch=16)
        try:
            deadline = time.monotonic() + 15
            while len(ok) < acked and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.4)  # anything delivered twice, or more than asked for, shows up now
        finally:
            consumer.stop()
        assert len(ok) == acked, f"{len(ok)} acknowledged, expected {acked}"
        return seen

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.own.kill()
        try:
            yield
        finally:
            self.own.start()

    def close(self) -> None:
        try:
            self.bus.delete_stream()
        finally:
            self.bus.close()


def _nats_client() -> None:
    need(importlib.util.find_spec("nats") is not None, "nats-py is not installed (the [nats] extra)")


def _nats_here() -> None:
    _nats_client()
    need(port_open("127.0.0.1", 4222), f"NATS not reachable at {SHARED_NATS}")


@pytest.fixture(params=["in-process", "nats"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    if request.param == "nats":
        _nats_here()
    made: Driver = InProcessDriver() if request.param == "in-process" else NatsDriver()
    assert isinstance(made.bus, Bus)
    yield made
    made.close()


def _ids(messages: list[BusMessage]) -> list[str]:
    return [m.message_id for m in messages]


def test_a_message_id_is_stored_and_delivered_once(driver: Driver) -> None:
    subject = driver.subject(SITES[0])
    assert driver.bus.publish(subject, b'{"qty":1}', message_id="wms-1") is True
    assert driver.bus.publish(subject, b'{"qty":1}', message_id="wms-1") is False  # a retry after a lost ack
    assert driver.bus.publish_many([(subject, b'{"qty":1}', "wms-1"), (subject, b'{"qty":2}', "wms-2"),
                                    (subject, b'{"qty":3}', "wms-3")]) == [False, True, True]
    got = driver.receive("ledger", f"{driver.root}.>", 3)
    assert _ids(got) == ["wms-1", "wms-2", "wms-3"]
    assert [m.payload for m in got] == [b'{"qty":1}', b'{"qty":2}', b'{"qty":3}']
    assert {m.deliveries for m in got} == {1} and {m.subject for m in got} == {subject}


def test_delivered_in_order_and_partitioned_by_site(driver: Driver) -> None:
    published = [(driver.subject(SITES[n % 3]), b"{}", f"wms-{n}") for n in range(9)]
    assert driver.bus.publish_many(published) == [True] * 9
    one_site = driver.receive("dc", f"{driver.root}.*.*.{site_token('DC.LYON')}", 3)
    assert _ids(one_site) == ["wms-2", "wms-5", "wms-8"]
    assert _ids(driver.receive("all", f"{driver.root}.>", 9)) == [f"wms-{n}" for n in range(9)]


def test_a_failed_handler_gets_the_message_again(driver: Driver) -> None:
    for n in range(3):
        driver.bus.publish(driver.subject(SITES[0]), b"{}", message_id=f"wms-{n}")
    got = driver.receive("ledger", f"{driver.root}.>", 3, fails=lambda m: m.message_id == "wms-1" and m.deliveries == 1)
    assert sorted((m.message_id, m.deliveries) for m in got) == [("wms-0", 1), ("wms-1", 1), ("wms-1", 2),
                                                                  ("wms-2", 1)]


def test_a_message_that_always_fails_is_given_up_after_max_deliver(driver: Driver) -> None:
    driver.bus.publish(driver.subject(SITES[0]), b"{}", message_id="poison")
    driver.bus.publish(driver.subject(SITES[0]), b"{}", message_id="fine")
    got = driver.receive("ledger", f"{driver.root}.>", 1, fails=lambda m: m.message_id == "poison", max_deliver=2)
    assert sorted((m.message_id, m.deliveries) for m in got) == [("fine", 1), ("poison", 1), ("poison", 2)]
    assert driver.receive("ledger", f"{driver.root}.>", 0, max_deliver=2) == []  # not again, to no one


def test_a_durable_consumer_resumes_after_what_it_acknowledged(driver: Driver) -> None:
    for n in range(2):
        driver.bus.publish(driver.subject(SITES[1]), b"{}", message_id=f"wms-{n}")
    assert _ids(driver.receive("ledger", f"{driver.root}.>", 2)) == ["wms-0", "wms-1"]
    driver.bus.publish(driver.subject(SITES[1]), b"{}", message_id="wms-late")
    assert _ids(driver.receive("ledger", f"{driver.root}.>", 1)) == ["wms-late"]
    assert _ids(driver.receive("audit", f"{driver.root}.>", 3)) == ["wms-0", "wms-1", "wms-late"]


@pytest.fixture(params=["in-process", "nats"])
def outage_driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    if request.param == "in-process":
        made: Driver = InProcessDriver()
    else:
        _nats_client()
        from tests.support.nats_server import OwnNats, nats_binary

        own = OwnNats(nats_binary(), tmp_path / "jetstream")
        own.start()
        made = NatsDriver(own.url, own=own, timeout=0.5)
        made.bus.connect()
    yield made
    made.close()
    if isinstance(made, NatsDriver):
        made.own.kill()


def test_an_outage_is_bus_unavailable_and_a_retry_stores_each_message_once(outage_driver: Driver) -> None:
    bus, subject = outage_driver.bus, outage_driver.subject(SITES[0])
    assert bus.publish(subject, b"{}", message_id="before") is True
    with outage_driver.outage():
        with pytest.raises(BusUnavailable) as info:
            bus.publish(subject, b"{}", message_id="during")
        assert isinstance(info.value, BusError) and isinstance(info.value, StockmeshError)
        outcomes = bus.publish_many([(subject, b"{}", "during"), (subject, b"{}", "during-2")])
        assert len(outcomes) == 2 and all(isinstance(o, BusUnavailable) for o in outcomes)
    # Retried as the relay retries (same ids): a publish that timed out may still have been stored
    # (NATS sends what it buffered once it reconnects), but never twice.
    deadline = time.monotonic() + 15
    while True:  # the client reconnects on its own; until then the relay defers and retries
        outcomes = bus.publish_many([(subject, b"{}", "during"), (subject, b"{}", "during-2")])
        if not any(isinstance(o, BusUnavailable) for o in outcomes):
            break
        assert time.monotonic() < deadline, "the bus did not come back"
        time.sleep(0.1)
    assert all(o in (True, False) for o in outcomes)
    assert _ids(outage_driver.receive("ledger", f"{outage_driver.root}.>", 3)) == ["before", "during", "during-2"]
