"""The bus over NATS JetStream (nats-py), behind the synchronous ``Bus`` port.

* One stream (``STOCKMESH`` by default) over ``stockmesh.>``; subjects are partitioned by site
  (``service.bus.subject_for``), so a consumer can follow one site or all of them.
* Publishing sets ``Nats-Msg-Id`` to the outbox message id: inside the stream's duplicate window
  (two minutes by default) a retried publish is stored once, and the ack says it was a duplicate.
* Consumers are durable pull consumers with explicit acks: a message is acknowledged only after its
  handler returned (that is, after the ledger committed), so a consumer killed between commit and
  ack gets the message again, and the inbox turns that redelivery into a no-op.

nats-py is asyncio; the rest of stockmesh is synchronous. The adapter runs its own event loop on a
daemon thread and its methods block on it, so callers never see a coroutine. Nothing connects until
the first call. Errors from nats-py are translated here: a connection or timeout problem becomes
``BusUnavailable`` (retry later), anything else ``BusError``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from stockmesh.service.bus import SUBJECT_ROOT, Bus, BusError, BusMessage, BusUnavailable, Handler

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError, nats.errors.ConnectionClosedError, nats.errors.NoServersError,
    nats.errors.NoRespondersError, nats.errors.OutboundBufferLimitError, nats.errors.StaleConnectionError,
    nats.errors.ConnectionReconnectingError, nats.errors.FlushTimeoutError, nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError, OSError,
)


def _translate(exc: BaseException, what: str) -> BusError:
    if isinstance(exc, _UNAVAILABLE):
        return BusUnavailable(f"NATS {what}: {type(exc).__name__} {exc}".strip())
    return BusError(f"NATS {what}: {type(exc).__name__} {exc}".strip())


@dataclass(slots=True)
class ConsumerStats:
    handled: int = 0  # messages whose handler returned, then acked
    failed: int = 0  # handler raised: negatively acknowledged, redelivered later
    redelivered: int = 0  # deliveries with num_delivered > 1


class NatsConsumer:
    """A running durable pull consumer: fetches, hands each message to the handler on a worker
    thread, acks after the handler returns, naks (with a delay) when it raises."""

    def __init__(self, bus: NatsBus, durable: str, subject_filter: str, handler: Handler, *,
                 batch: int, ack_wait: float, max_deliver: int, nak_delay: float) -> None:
        self.bus = bus
        self.durable = durable
        self.subject_filter = subject_filter
        self.handler = handler
        self.batch = batch
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.nak_delay = nak_delay
        self.stats = ConsumerStats()
        self._stop = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    async def _run(self) -> None:
        sub = None
        while not self._stop.is_set():
            try:
                if sub is None:
                    js = await self.bus._js_async()
                    config = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                                            deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait,
                                            max_deliver=self.max_deliver, filter_subject=self.subject_filter,
                                            max_ack_pending=max(1000, self.batch * 4))
                    sub = await js.pull_subscribe(self.subject_filter, durable=self.durable,
                                                  stream=self.bus.stream, config=config)
                try:
                    msgs = await sub.fetch(self.batch, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError, nats.js.errors.FetchTimeoutError):
                    continue
                for msg in msgs:
                    if self._stop.is_set():
                        break  # not acked: redelivered to whoever consumes next
                    await self._handle(msg)
            except asyncio.CancelledError:
                break
            except Exception as exc:  # noqa: BLE001 - an outage: wait and resubscribe
                log.info("consumer %s: %s; retrying", self.durable, _translate(exc, "fetch"))
                if sub is not None and not isinstance(exc, _UNAVAILABLE):
                    sub = None
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=0.5)
                except TimeoutError:
                    pass
        if sub is not None:
            try:  # no interest any more: the server stops routing pull replies to this inbox
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass

    async def _handle(self, msg: Any) -> None:
        headers = dict(msg.headers or {})
        meta = msg.metadata
        deliveries = int(meta.num_delivered) if meta is not None else 1
        message = BusMessage(msg.subject, headers.get("Nats-Msg-Id", ""), msg.data, deliveries, headers)
        if deliveries > 1:
            self.stats.redelivered += 1
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.handler, message)
        except Exception as exc:  # noqa: BLE001 - a failing handler is isolated; the message comes back
            self.stats.failed += 1
            log.warning("consumer %s: handler failed on %s (delivery %d): %s", self.durable,
                        message.message_id, deliveries, exc)
            try:
                await msg.nak(delay=self.nak_delay)
            except Exception:  # noqa: BLE001 - ack_wait redelivers it anyway
                pass
            return
        # The ledger has committed. If this ack is lost (crash, outage), the redelivery is a no-op.
        await msg.ack_sync(timeout=5)
        self.stats.handled += 1

    def stop(self, timeout: float = 10) -> None:
        """Stop fetching; a message being handled finishes (and is acked) first."""
        self.bus._call(self._set_stop(), timeout)
        if self._task is not None:
            try:
                self.bus._wait(self._task, timeout)
            except Exception:  # noqa: BLE001
                pass

    async def _set_stop(self) -> None:
        self._stop.set()


class NatsBus(Bus):
    """``Bus`` over NATS JetStream. ``url`` like ``nats://127.0.0.1:4222``."""

    def __init__(self, url: str = "nats://127.0.0.1:4222", *, stream: str = "STOCKMESH",
                 subjects: Sequence[str] = (f"{SUBJECT_ROOT}.>",), duplicate_window: float = 120.0,
                 timeout: float = 5.0, memory_storage: bool = False, name: str = "stockmesh") -> None:
        self.url = url
        self.stream = stream
        self.subjects = list(subjects)
        self.duplicate_window = duplicate_window
        self.timeout = timeout
        self.memory_storage = memory_storage
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._stream_ready = False
        self._start_lock = threading.Lock()
        self.consumers: list[NatsConsumer] = []

    # -- the private event loop --------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=f"nats-{self.name}", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        return self._wait(future, timeout)

    def _wait(self, future: Future[T] | asyncio.Future[T], timeout: float | None) -> T:
        if isinstance(future, asyncio.Future):
            inner = future

            async def waiter() -> T:
                return await inner

            future = asyncio.run_coroutine_threadsafe(waiter(), self._ensure_loop())
        try:
            return future.result(timeout if timeout is not None else self.timeout + 5)
        except TimeoutError as exc:
            future.cancel()
            raise BusUnavailable(f"NATS at {self.url} did not answer in time") from exc

    async def _connect(self) -> Any:
        if self._nc is not None and not self._nc.is_closed:
            return self._nc
        try:
            self._nc = await nats.connect(
                self.url, name=self.name, connect_timeout=2, allow_reconnect=True,
                max_reconnect_attempts=-1, reconnect_time_wait=0.5, ping_interval=5,
                max_outstanding_pings=2, error_cb=self._on_error, disconnected_cb=self._on_disconnect,
                reconnected_cb=self._on_reconnect)
        except Exception as exc:  # noqa: BLE001 - translated below
            self._nc = None
            raise _translate(exc, f"connect to {self.url}") from exc
        self._js = self._nc.jetstream(timeout=self.timeout)
        self._stream_ready = False
        return self._nc

    async def _js_async(self) -> Any:
        await self._connect()
        if not self._stream_ready:
            config = StreamConfig(name=self.stream, subjects=self.subjects, duplicate_window=self.duplicate_window,
                                  storage=StorageType.MEMORY if self.memory_storage else StorageType.FILE)
            try:
                await self._js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(config)
            self._stream_ready = True
        return self._js

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS %s: %s", self.url, exc)

    async def _on_disconnect(self) -> None:
        log.info("NATS %s: disconnected", self.url)

    async def _on_reconnect(self) -> None:
        log.info("NATS %s: reconnected", self.url)

    # -- Bus ----------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and make sure the stream exists (otherwise done on first use)."""
        self._call(self._guard(self._js_async(), "connect"))

    async def _guard(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        try:
            return await coro
        except BusError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated at the boundary
            raise _translate(exc, what) from exc

    async def _publish(self, subject: str, payload: bytes, message_id: str) -> bool:
        js = await self._js_async()
        ack = await js.publish(subject, payload, timeout=self.timeout, headers={"Nats-Msg-Id": message_id})
        return not ack.duplicate

    def publish(self, subject: str, payload: bytes, *, message_id: str) -> bool:
        return self._call(self._guard(self._publish(subject, payload, message_id), "publish"))

    def publish_many(self, messages: Sequence[tuple[str, bytes, str]]) -> list[BaseException | bool]:
        """Publish concurrently (pipelined acks) and return each outcome in order."""

        async def run() -> list[BaseException | bool]:
            try:
                await self._js_async()
            except Exception as exc:  # noqa: BLE001
                err = _translate(exc, "connect")
                return [err for _ in messages]
            results = await asyncio.gather(
                *(self._guard(self._publish(s, p, m), "publish") for s, p, m in messages), return_exceptions=True)
            return list(results)

        return self._call(run(), timeout=self.timeout + 10)

    def consume(self, durable: str, subject_filter: str, handler: Handler, *, batch: int = 64,
                ack_wait: float = 30.0, max_deliver: int = 20, nak_delay: float = 1.0) -> NatsConsumer:
        """Start a durable consumer in the background; ``stop()`` it when done. A consumer with the
        same durable name resumes where the previous one stopped (across processes too)."""
        consumer = NatsConsumer(self, durable, subject_filter, handler, batch=batch, ack_wait=ack_wait,
                                max_deliver=max_deliver, nak_delay=nak_delay)

        async def start() -> None:
            consumer._task = asyncio.ensure_future(consumer._run())

        self._call(start())
        self.consumers.append(consumer)
        return consumer

    def stream_info(self) -> dict[str, int]:
        """Messages stored and the last sequence (diagnostics, tests)."""

        async def info() -> dict[str, int]:
            js = await self._js_async()
            state = (await js.stream_info(self.stream)).state
            return {"messages": int(state.messages), "last_seq": int(state.last_seq)}

        return self._call(self._guard(info(), "stream info"))

    def delete_stream(self) -> None:
        async def delete() -> None:
            js = await self._js_async()
            try:
                await js.delete_stream(self.stream)
            except nats.js.errors.NotFoundError:
                pass
            self._stream_ready = False

        self._call(self._guard(delete(), "delete stream"))

    def close(self) -> None:
        for consumer in self.consumers:
            try:
                consumer.stop(timeout=5)
            except BusError:
                pass
        self.consumers.clear()
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._nc is not None and not self._nc.is_closed:
                try:
                    await asyncio.wait_for(self._nc.close(), 3)
                except Exception:  # noqa: BLE001 - closing a dead connection
                    pass

        try:
            self._call(shutdown(), timeout=5)
        except BusError:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None


def connect_bus(url: str, **options: Any) -> NatsBus:
    """A connected ``NatsBus`` (raises ``BusUnavailable`` when the server is not there)."""
    bus = NatsBus(url, **options)
    bus.connect()
    return bus
