"""Outbound webhooks for orders and transfers: HMAC-SHA256 signed, retried, idempotent by key.

Each delivery is a ``POST`` of the outbox payload (JSON) with these headers::

    Idempotency-Key:        the outbox message id (the receiver keeps it to apply the order once)
    X-Stockmesh-Topic:      e.g. purchase_order.placed
    X-Stockmesh-Signature:  t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>

The timestamp in the signed text stops a captured request from being replayed later
(``verify_signature`` rejects one older than its tolerance). A 2xx is a delivery; 408, 425, 429,
5xx, timeouts and connection errors are transient (``DeliveryFailed``, retried by the relay); any
other 4xx is permanent (the receiver refused the document; retrying cannot help).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import httpx

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.errors import InvalidInput
from stockmesh.service.sink import DeliveryFailed, OutboundMessage, Sink

SIGNATURE_HEADER = "X-Stockmesh-Signature"
_TRANSIENT_STATUS = {408, 425, 429}


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: bytes, body: bytes, header: str, *, tolerance: float = 300,
                     now: float | None = None) -> None:
    """Check a signature header (receiver side). Raises ``InvalidInput`` naming the problem."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise InvalidInput("malformed signature header", field=SIGNATURE_HEADER) from None
    current = SYSTEM_CLOCK.now().timestamp() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidInput("signature timestamp outside the tolerance (replayed or clock skew)",
                           field=SIGNATURE_HEADER)
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise InvalidInput("signature does not match the body", field=SIGNATURE_HEADER)


class WebhookSink(Sink):
    """Delivers outbox messages to one HTTP endpoint. ``client`` may be any ``httpx.Client``
    (tests pass one over ``httpx.MockTransport``)."""

    def __init__(self, url: str, secret: bytes | str, *, client: httpx.Client | None = None,
                 timeout: float = 10.0, topics: Sequence[str] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("webhook URL must be http:// or https://", field="url")
        if not secret:
            raise InvalidInput("a webhook needs a signing secret", field="secret")
        self.url = url
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.client = client or httpx.Client(timeout=timeout)
        self.topics = tuple(topics) if topics else None
        self.clock = clock

    def deliver(self, message: OutboundMessage) -> None:
        if self.topics is not None and message.topic not in self.topics:
            return
        body = message.raw
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.message_id,
            "X-Stockmesh-Topic": message.topic,
            "X-Stockmesh-Attempt": str(message.attempt),
            SIGNATURE_HEADER: sign(self.secret, body, int(self.clock.now().timestamp())),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"webhook {self.url}: timeout") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook {self.url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        transient = status in _TRANSIENT_STATUS or status >= 500
        raise DeliveryFailed(f"webhook {self.url}: HTTP {status} {response.text[:200]}", permanent=not transient)

    def close(self) -> None:
        self.client.close()
