"""The outbox relay: actions leave the ledger at least once, and take effect once.

Approved actions (purchase orders, transfers, reservations, cancellations) are written to the
outbox table in the transaction that records their events (``execute_with_outbox``). The relay
reads pending messages in order and hands each to the sinks its topic is routed to (an ERP, a WMS,
a webhook, an X12 writer: the ``Sink`` port, ``service.sink``) and to the bus. Every delivery carries the message id as the idempotency
key (``Idempotency-Key``, ``Nats-Msg-Id``, the 850's control number): a delivery repeated after a
crash between "sent" and "marked delivered" is recognised downstream, so the effect happens once.

Failures, and what each costs the message:

* a sink raises ``DeliveryFailed(permanent=False)`` (timeout, 5xx): a few quick jittered retries in
  the call (tenacity), then the attempt counts, and the next one is scheduled after a jittered
  exponential wait (``next_attempt_at``). After ``max_attempts`` the message is ``dead``: visible in
  ``stockmesh outbox list --status dead`` and put back with ``stockmesh outbox replay SEQ``.
* a sink raises ``DeliveryFailed(permanent=True)`` (a 4xx, a refused document): dead at once.
* the bus raises ``BusUnavailable``: a transport outage, not the message's fault. No attempt is
  counted (a long outage must not kill the backlog); the relay stops the batch and backs off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from stockmesh.domain import commands as cmd
from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.errors import InvalidInput, StockmeshError
from stockmesh.ledger.port import EventStore, OutboxStore
from stockmesh.ledger.records import OutboxEntry, OutboxMessage
from stockmesh.service.bus import SUBJECT_ROOT, Bus, BusUnavailable, subject_for, subject_matches
from stockmesh.service.execute import Outcome, execute
from stockmesh.service.sink import DeliveryFailed, OutboundMessage, Sink

log = logging.getLogger(__name__)

#: The topic of the outbound message each action command produces.
ACTION_TOPICS: dict[type[cmd.Command], str] = {
    cmd.PlacePurchaseOrder: "purchase_order.placed",
    cmd.CancelPurchaseOrder: "purchase_order.cancelled",
    cmd.ExpeditePurchaseOrder: "purchase_order.expedited",
    cmd.DispatchTransfer: "transfer.dispatched",
    cmd.ReceiveTransfer: "transfer.received",
    cmd.ReserveStock: "reservation.opened",
    cmd.ReleaseReservation: "reservation.released",
}


@dataclass(slots=True)
class RelayReport:
    delivered: int = 0
    retried: int = 0  # failed, scheduled again
    dead: int = 0
    deferred: int = 0  # bus unavailable: left pending, no attempt counted
    bus_down: bool = False
    errors: list[str] = field(default_factory=list)

    def add(self, other: RelayReport) -> None:
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.deferred += other.deferred
        self.bus_down = other.bus_down
        self.errors.extend(other.errors)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryFailed) and not exc.permanent


class _Attempt:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


class OutboxRelay:
    """Delivers pending outbox messages to the sinks routed by topic and to the bus.

    ``routes`` maps a topic pattern (dotted, with NATS wildcards: ``purchase_order.*``, ``>``) to
    sinks. A message with no sink and no bus stays pending (it is never marked delivered unseen).
    """

    def __init__(self, store: OutboxStore, *, routes: Mapping[str, Sequence[Sink]] | None = None,
                 bus: Bus | None = None, max_attempts: int = 10, call_attempts: int = 3,
                 retry_wait: Callable[[RetryCallState], float] | None = None,
                 call_wait: Callable[[RetryCallState], float] | None = None,
                 batch_size: int = 500, clock: Clock = SYSTEM_CLOCK,
                 subject_root: str = SUBJECT_ROOT) -> None:
        if max_attempts < 1 or call_attempts < 1:
            raise InvalidInput("attempts must be at least 1", field="max_attempts")
        self.store = store
        self.routes = {k: list(v) for k, v in (routes or {}).items()}
        self.bus = bus
        self.max_attempts = max_attempts
        self.call_attempts = call_attempts
        self.retry_wait = retry_wait or wait_random_exponential(multiplier=1, max=300)
        self.call_wait = call_wait or wait_random_exponential(multiplier=0.05, max=1)
        self.batch_size = batch_size
        self.clock = clock
        self.subject_root = subject_root

    # -- routing ----------------------------------------------------------------------------
    def sinks_for(self, topic: str) -> list[Sink]:
        found: list[Sink] = []
        for pattern, sinks in self.routes.items():
            if subject_matches(pattern, topic):
                found.extend(s for s in sinks if s not in found)
        return found

    # -- one pass -----------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> RelayReport:
        """Deliver every due pending message (at most ``limit``), in enqueue order."""
        report = RelayReport()
        after = 0
        handled = 0
        while limit is None or handled < limit:
            now = self.clock.now()
            size = self.batch_size if limit is None else min(self.batch_size, limit - handled)
            batch = self.store.outbox_entries(status="pending", due_before=now.isoformat(), limit=size,
                                              after_seq=after)
            if not batch:
                break
            part = self._deliver_batch(batch)
            report.add(part)
            handled += len(batch)
            after = batch[-1].seq
            if part.bus_down:
                break
        return report

    def _deliver_batch(self, batch: Sequence[OutboxEntry]) -> RelayReport:
        report = RelayReport()
        ready: list[tuple[OutboxEntry, OutboundMessage]] = []
        for entry in batch:
            try:
                payload = orjson.loads(entry.payload)
                if not isinstance(payload, dict):
                    raise ValueError("payload is not a JSON object")
            except ValueError as exc:
                self._failed(entry, DeliveryFailed(f"unreadable payload: {exc}", permanent=True), report)
                continue
            message = OutboundMessage(entry.message_id, entry.topic, payload, entry.payload.encode(),
                                      entry.created_at, entry.attempts + 1)
            sinks = self.sinks_for(entry.topic)
            if not sinks and self.bus is None:
                continue  # nowhere to go yet: leave it pending rather than pretend
            try:
                for sink in sinks:
                    self._deliver(sink, message)
            except DeliveryFailed as exc:
                self._failed(entry, exc, report)
                continue
            except StockmeshError as exc:  # a sink's own error: treat as transient
                self._failed(entry, DeliveryFailed(str(exc)), report)
                continue
            ready.append((entry, message))
        if self.bus is None:
            for entry, _ in ready:
                self._delivered(entry, report)
            return report
        results = self.bus.publish_many([(subject_for(m.topic, m.site, self.subject_root), m.raw, m.message_id) for _, m in ready])
        for (entry, _), result in zip(ready, results, strict=True):
            if isinstance(result, BusUnavailable):
                report.deferred += 1
                report.bus_down = True
            elif isinstance(result, BaseException):
                self._failed(entry, DeliveryFailed(f"bus: {result}"), report)
            else:
                self._delivered(entry, report)
        return report

    def _deliver(self, sink: Sink, message: OutboundMessage) -> None:
        for attempt in Retrying(stop=stop_after_attempt(self.call_attempts), wait=self.call_wait,
                                retry=retry_if_exception(_transient), reraise=True):
            with attempt:
                sink.deliver(message)

    def _delivered(self, entry: OutboxEntry, report: RelayReport) -> None:
        self.store.outbox_update(entry.seq, status="delivered", attempts=entry.attempts + 1,
                                 last_error=None, delivered_at=self.clock.now().isoformat())
        report.delivered += 1

    def _failed(self, entry: OutboxEntry, exc: DeliveryFailed, report: RelayReport) -> None:
        attempts = entry.attempts + 1
        error = str(exc)[:500]
        report.errors.append(f"{entry.message_id}: {error}")
        if exc.permanent or attempts >= self.max_attempts:
            self.store.outbox_update(entry.seq, status="dead", attempts=attempts, last_error=error)
            report.dead += 1
            log.warning("outbox message %s is dead after %d attempt(s): %s", entry.message_id, attempts, error)
            return
        delay = float(self.retry_wait(_Attempt(attempts)))  # type: ignore[arg-type]
        due = (self.clock.now() + timedelta(seconds=delay)).isoformat()
        self.store.outbox_update(entry.seq, status="pending", attempts=attempts, next_attempt_at=due,
                                 last_error=error)
        report.retried += 1

    # -- running --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, idle: float = 0.2, max_backoff: float = 2.0,
            on_report: Callable[[RelayReport], None] | None = None) -> RelayReport:
        """Relay until ``stop`` is set. While the bus is down, back off (jittered, capped at
        ``max_backoff`` seconds) so the drain starts soon after it returns."""
        total = RelayReport()
        down_for = 0
        wait = wait_random_exponential(multiplier=0.1, max=max_backoff)
        while not stop.is_set():
            report = self.run_once()
            total.add(report)
            if on_report is not None:
                on_report(report)
            if report.bus_down:
                down_for += 1
                stop.wait(float(wait(_Attempt(down_for))))  # type: ignore[arg-type]
                continue
            down_for = 0
            if report.delivered == 0 and report.retried == 0 and report.dead == 0:
                stop.wait(idle)
        return total


# -- the operator's view --------------------------------------------------------------------

def outbox_list(store: OutboxStore, *, status: str | None = None, limit: int = 100,
                after_seq: int = 0) -> list[OutboxEntry]:
    """Outbox messages in order; ``status`` ``pending``, ``delivered``, ``dead`` or None for all."""
    if status not in (None, "pending", "delivered", "dead"):
        raise InvalidInput("must be pending, delivered or dead", field="status")
    return store.outbox_entries(status=status, limit=limit, after_seq=after_seq)


def outbox_entry(store: OutboxStore, seq: int) -> OutboxEntry:
    found = store.outbox_entries(status=None, limit=1, after_seq=seq - 1)
    if not found or found[0].seq != seq:
        raise InvalidInput(f"no outbox message with seq {seq}", field="SEQ")
    return found[0]


def replay(store: OutboxStore, seq: int) -> OutboxEntry:
    """Put a dead (or delivered) message back to pending with a fresh attempt budget. Its id is
    unchanged, so a receiver that did get it before still applies it once."""
    entry = outbox_entry(store, seq)
    if entry.status == "pending":
        raise InvalidInput(f"message {seq} is already pending", field="SEQ")
    store.outbox_update(seq, status="pending", attempts=0, next_attempt_at=None,
                        last_error=entry.last_error, delivered_at=None)
    return outbox_entry(store, seq)


def counts(store: OutboxStore) -> dict[str, int]:
    """How many messages in each status (walks the table; for the CLI and tests)."""
    out = {"pending": 0, "delivered": 0, "dead": 0}
    for status in out:
        after = 0
        while True:
            page = store.outbox_entries(status=status, limit=5000, after_seq=after)
            if not page:
                break
            out[status] += len(page)
            after = page[-1].seq
    return out


# -- writing actions with their messages -------------------------------------------------------

def message_for(command: cmd.Command, *, topic: str | None = None, created_at: str | None = None,
                clock: Clock = SYSTEM_CLOCK) -> OutboxMessage:
    """The outbound message of an action command; its id derives from the command's key."""
    name = topic or ACTION_TOPICS.get(type(command))
    if name is None:
        raise InvalidInput(f"{command.name} is not an outbound action", field="command")
    payload = command.payload()
    return OutboxMessage(f"out:{command.idempotency_key}", name,
                         orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
                         created_at or clock.now().isoformat())


def execute_with_outbox(store: EventStore, commands: Sequence[cmd.Command], *,
                        metadata: Mapping[str, Any] | None = None, all_or_nothing: bool = True) -> list[Outcome]:
    """Execute commands; each applied action command enqueues its message in the same transaction.
    A duplicate command enqueues nothing new (and its message id would be the same anyway)."""

    def after_each(_: int, command: cmd.Command, outcome: Outcome) -> tuple[list[Any], list[OutboxMessage]]:
        if outcome.status == "applied" and type(command) in ACTION_TOPICS:
            return [], [message_for(command)]
        return [], []

    return execute(store, commands, metadata=metadata, all_or_nothing=all_or_nothing, after_each=after_each)


def sleep_until_drained(store: OutboxStore, timeout: float, poll: float = 0.05) -> bool:
    """Wait until no message is pending (tests and benchmarks). True when drained."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not store.outbox_entries(status="pending", limit=1):
            return True
        time.sleep(poll)
    return not store.outbox_entries(status="pending", limit=1)
