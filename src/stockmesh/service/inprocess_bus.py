"""The bus inside one process: the default ``Bus`` (tests, the twin, a single-process deployment),
with the semantics of the NATS adapter (``service.bus`` describes them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stockmesh.service.bus import Bus, BusError, BusMessage, BusUnavailable, Handler, subject_matches


class InProcessBus(Bus):
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
