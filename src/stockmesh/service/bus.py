"""The message bus port, and the in-process bus that is its default implementation.

A message is published on a *subject* with a ``message_id``; the bus keeps one copy per id inside
its de-duplication window (the outbox relay retries with the same id, so a retry after a lost
acknowledgement does not publish twice). Subjects are partitioned by site:
``stockmesh.<topic>.<site-token>``, so a consumer can follow one site (``stockmesh.*.STORE-1``)
or everything (``stockmesh.>``).

Consumers are *durable*: a named consumer remembers which messages it has acknowledged, and a
message whose handler fails (or whose consumer dies before acknowledging) is delivered again.
Delivery is therefore at least once; the consuming side applies a message once through the inbox
(``service.inbox``), which turns the message id into command idempotency keys.

    BusError                 (a StockmeshError)
     └── BusUnavailable      the transport is down or timed out: retry later, nothing is lost

Implementations: ``InProcessBus`` here (tests, the twin, a single-process deployment) and
``adapters.nats_bus.NatsBus`` (NATS JetStream).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stockmesh.domain.errors import StockmeshError

SUBJECT_ROOT = "stockmesh"
_SUBJECT_ESCAPES = {"%": "%25", ".": "%2E", "*": "%2A", ">": "%3E", " ": "%20"}


class BusError(StockmeshError):
    """The bus refused or failed an operation."""


class BusUnavailable(BusError):
    """The transport is unreachable or did not acknowledge in time; the operation may be retried."""


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One message as a consumer sees it. ``deliveries`` counts this delivery (1 = first)."""

    subject: str
    message_id: str
    payload: bytes
    deliveries: int = 1
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[BusMessage], None]


def site_token(site: str | None) -> str:
    """A site id as one subject token (dots, wildcards and spaces escaped); ``_`` when unknown."""
    if not site:
        return "_"
    return "".join(_SUBJECT_ESCAPES.get(ch, ch) for ch in site)


def subject_for(topic: str, site: str | None, root: str = SUBJECT_ROOT) -> str:
    """``stockmesh.<topic>.<site>``: e.g. ``stockmesh.purchase_order.placed.STORE-LYON-02``."""
    return f"{root}.{topic}.{site_token(site)}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard semantics: ``*`` matches one token, a final ``>`` one or more."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (tok != "*" and tok != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


class Bus(Protocol):
    """Publish with de-duplication by ``message_id``; consume through durable consumers."""

    def publish(self, subject: str, payload: bytes, *, message_id: str) -> bool:
        """Publish once per ``message_id``: True when stored, False when it was a duplicate.
        Raises ``BusUnavailable`` when the transport did not acknowledge."""
        ...

    def publish_many(self, messages: Sequence[tuple[str, bytes, str]]) -> list[BaseException | bool]:
        """Publish ``(subject, payload, message_id)`` items; per item the ``publish`` result or the
        error it raised (so one failure does not hide the others' outcome)."""
        ...

    def close(self) -> None: ...


class InProcessBus:
    """A bus inside one process, with the semantics of the NATS adapter: a de-duplication window
    by message id, durable named consumers with explicit acknowledgement, redelivery of what a
    handler failed on, and a delivery limit after which a message is parked as dead.

    Delivery is pulled, not pushed: ``pump(consumer)`` delivers what is pending to the handler and
    returns how many were acknowledged. ``down()``/``up()`` simulate an outage for tests and the
    twin: while down, every publish raises ``BusUnavailable``.
    """

    def __init__(self, *, duplicate_window: float = 120.0, max_deliver: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.duplicate_window = duplicate_window
        self.max_deliver = max_deliver
        self._clock = clock
        self._lock = threading.RLock()
        self._log: list[BusMessage] = []  # the stream: every stored message, in order
        self._seen: dict[str, float] = {}  # message id -> when first stored
        self._consumers: dict[str, _Consumer] = {}
        self._available = True

    # -- transport state (for tests and the twin) ----------------------------------------------
    def down(self) -> None:
        self._available = False

    def up(self) -> None:
        self._available = True

    @property
    def messages(self) -> list[BusMessage]:
        with self._lock:
            return list(self._log)

    # -- publishing -------------------------------------------------------------------------
    def publish(self, subject: str, payload: bytes, *, message_id: str) -> bool:
        if not self._available:
            raise BusUnavailable("in-process bus is down")
        with self._lock:
            now = self._clock()
            if len(self._seen) > 100_000:  # forget ids older than the window, as JetStream does
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.duplicate_window}
            first = self._seen.get(message_id)
            if first is not None and now - first < self.duplicate_window:
                return False
            self._seen[message_id] = now
            self._log.append(BusMessage(subject, message_id, bytes(payload), headers={"Nats-Msg-Id": message_id}))
            return True

    def publish_many(self, messages: Sequence[tuple[str, bytes, str]]) -> list[BaseException | bool]:
        out: list[BaseException | bool] = []
        for subject, payload, message_id in messages:
            try:
                out.append(self.publish(subject, payload, message_id=message_id))
            except BusError as exc:
                out.append(exc)
        return out

    # -- consuming ---------------------------------------------------------------------------
    def subscribe(self, durable: str, subject_filter: str, handler: Handler) -> None:
        """Create (or re-attach to) the durable consumer ``durable``: it resumes where it stopped."""
        with self._lock:
            consumer = self._consumers.get(durable)
            if consumer is None:
                consumer = self._consumers[durable] = _Consumer(subject_filter)
            consumer.filter = subject_filter
            consumer.handler = handler

    def unsubscribe(self, durable: str) -> None:
        """Detach the handler; the consumer keeps its place (a later ``subscribe`` resumes)."""
        with self._lock:
            if durable in self._consumers:
                self._consumers[durable].handler = None

    def pump(self, durable: str, limit: int | None = None) -> int:
        """Deliver pending messages to ``durable``'s handler; acknowledge each that returns.
        A handler that raises leaves its message for redelivery on the next pump."""
        with self._lock:
            consumer = self._consumers[durable]
            handler = consumer.handler
            pending = [(i, m) for i, m in enumerate(self._log)
                       if i not in consumer.acked and i not in consumer.dead
                       and subject_matches(consumer.filter, m.subject)]
        if handler is None:
            return 0
        acked = 0
        for index, message in pending[:limit]:
            with self._lock:
                consumer.deliveries[index] = consumer.deliveries.get(index, 0) + 1
                attempt = consumer.deliveries[index]
            try:
                handler(BusMessage(message.subject, message.message_id, message.payload, attempt,
                                   dict(message.headers)))
            except Exception:  # noqa: BLE001 - a failing handler is isolated; the message stays pending
                if attempt >= self.max_deliver:
                    with self._lock:
                        consumer.dead.add(index)
                continue
            with self._lock:
                consumer.acked.add(index)
            acked += 1
        return acked

    def pending(self, durable: str) -> int:
        with self._lock:
            consumer = self._consumers[durable]
            return sum(1 for i, m in enumerate(self._log)
                       if i not in consumer.acked and i not in consumer.dead
                       and subject_matches(consumer.filter, m.subject))

    def close(self) -> None:
        pass


@dataclass(slots=True)
class _Consumer:
    filter: str
    handler: Handler | None = None
    acked: set[int] = field(default_factory=set)
    dead: set[int] = field(default_factory=set)
    deliveries: dict[int, int] = field(default_factory=dict)
