"""Request limits: body size and JSON nesting (an ASGI middleware), concurrent reads (another),
and token-bucket rate limits."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (strings skipped). Python's json parser would
    recurse into a deep document and fail with RecursionError, a 500; this turns it into a 400."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class BodyLimits:
    """Refuses bodies over ``max_bytes`` (413) and JSON nested deeper than ``max_depth`` (400)
    before any route runs; the body is buffered (it is small by then) and replayed to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = True
            if too_big:
                await _reply(send, 413, "payload too large", f"the body is limited to {self.max_bytes} bytes")
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, "payload too large", f"the body is limited to {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json_depth_exceeds(body, self.max_depth):
            await _reply(send, 400, "too deeply nested", f"JSON may nest at most {self.max_depth} levels")
            return
        await self.app(scope, replaying(body, receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app a body already read whole (by a middleware that had to see
    it), then whatever the connection sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(send: Send, status: int, title: str, detail: str, *, slug: str | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None, close: bool = True) -> None:
    body = json.dumps({"type": f"https://stockmesh.dev/problems/{slug or status}", "title": title,
                       "status": status, "detail": detail}).encode()
    extra = [(b"connection", b"close")] if close else []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), *extra, *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class ReadLimits:
    """At most ``total`` reads in flight at once, and at most ``per_client`` of them for one client;
    a read beyond either is answered at once (503 or 429, ``Retry-After: 1``) instead of queueing.

    Why: a read route is a thread of the server's pool (40 threads) for as long as it runs, so 40
    slow reads from one viewer used to take every thread, and ``/healthz``, writes and other users
    waited behind them. This runs on the event loop, before any thread is taken, so a refused read
    costs no thread at all; the reads let in leave the rest of the pool to writes and to others.
    A read is a GET (or HEAD) under ``/api`` but ``/api/me``, and ``/metrics``. The client is the
    bearer token when one is sent (hashed; checked later by the route), else the peer address
    (the real one, or the forwarded one only when ``stockmesh serve`` is told to trust a proxy)."""

    def __init__(self, app: ASGIApp, total: int, per_client: int) -> None:
        self.app = app
        self.total = max(total, 1)
        self.per_client = max(per_client, 1)
        self.in_flight = 0
        self.by_client: dict[str, int] = {}

    @staticmethod
    def is_read(scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        return (path.startswith("/api/") and path != "/api/me") or path == "/metrics"

    @staticmethod
    def client_of(scope: Scope) -> str:
        for name, value in scope.get("headers") or ():
            if name == b"authorization":  # the secret alone: "Bearer x" and "bearer  x" are one client
                secret = value.split(None, 1)[-1].strip() if value.strip() else b""
                return "token:" + hashlib.sha256(secret).hexdigest()[:32]
        client = scope.get("client")
        return f"ip:{client[0] if client else 'unknown'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.is_read(scope):
            await self.app(scope, receive, send)
            return
        # One event loop runs this: the counters need no lock (no await between test and update).
        client = self.client_of(scope)
        mine = self.by_client.get(client, 0)
        if mine >= self.per_client:
            await _reply(send, 429, "too many concurrent reads",
                         f"at most {self.per_client} reads at a time per client; retry after 1 s",
                         slug="too-many-concurrent-reads", headers=[(b"retry-after", b"1")], close=False)
            return
        if self.in_flight >= self.total:
            await _reply(send, 503, "server busy", f"{self.total} reads are running; retry after 1 s",
                         slug="busy", headers=[(b"retry-after", b"1")], close=False)
            return
        self.in_flight += 1
        self.by_client[client] = mine + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            left = self.by_client[client] - 1
            if left:
                self.by_client[client] = left
            else:
                del self.by_client[client]


class RateLimiter:
    """Token buckets per key: ``per_minute`` steady rate, ``burst`` capacity. ``hit`` returns 0 when
    allowed, else the seconds to wait (for Retry-After)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> int:
        if self.rate <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # keep memory bounded under a flood of keys
                self._buckets.clear()
            return max(1, math.ceil((1.0 - tokens) / self.rate))


class Timing:
    """Request latency per route into the metrics, and ``nosniff`` on every response (pure ASGI:
    ``BaseHTTPMiddleware`` costs a task and a queue per request)."""

    def __init__(self, app: ASGIApp, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
            await send(message)

        try:
            await self.app(scope, receive, send_with_header)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.request_latency.labels(scope["method"], path).observe(time.perf_counter() - started)
