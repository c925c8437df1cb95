"""The sink port: where the outbox relay (``service.outbox``) hands an outbound message.

A sink is one outbound adapter: the fake WMS/ERP (``adapters.fake_wms``), a webhook endpoint
(``adapters.webhooks``), an X12 850 directory (``adapters.x12``). Its contract, held by
``tests/contract/test_sink.py`` over each of them:

* ``deliver`` returns once the receiver has the message; it takes effect once per
  ``message.message_id`` (the id is passed on as the receiver's idempotency key, or the sink
  recognises it itself), so the relay may deliver again after a crash between "sent" and "marked";
* a topic the sink does not take is no error: ``deliver`` returns and nothing happens;
* every failure is a ``DeliveryFailed`` (errors of the transport or library are translated here,
  at the boundary): ``permanent=False`` when a later attempt may succeed (timeout, 5xx, an
  unreachable receiver), ``permanent=True`` when it cannot (the receiver refused the document).

    StockmeshError
     └── DeliveryFailed      a sink could not deliver; ``permanent``: retrying cannot help
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stockmesh.domain.errors import StockmeshError


class DeliveryFailed(StockmeshError):
    """A sink could not deliver. ``permanent`` when retrying cannot help (the receiver refused)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """An outbox message as a sink receives it. ``message_id`` is the idempotency key to pass on."""

    message_id: str
    topic: str
    payload: Mapping[str, Any]
    raw: bytes
    created_at: str
    attempt: int = 1

    @property
    def site(self) -> str | None:
        """The site the message concerns: the subject partition on the bus."""
        for name in ("site", "to_site", "from_site"):
            value = self.payload.get(name)
            if isinstance(value, str):
                return value
        return None


@runtime_checkable
class Sink(Protocol):
    """An outbound adapter. ``deliver`` must be idempotent by ``message.message_id`` and raise only
    ``DeliveryFailed`` (see the module docstring)."""

    def deliver(self, message: OutboundMessage) -> None: ...
