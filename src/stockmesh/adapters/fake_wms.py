"""A warehouse / ERP system of record, in memory: the fake used by the tests and the twin.

It behaves like the real thing at its boundary: it accepts our outbound actions (purchase orders,
transfers, reservations) once per idempotency key, keeps its own stock book per SKU x site x lot,
sends inbound messages (receipts, shipments, counts) with ids of its own, exports snapshots, and can
fail the ways real systems fail: an outage, a number of transient errors, a refusal, or applying an
order and then losing the reply (so the sender retries and the key must protect the effect).
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.service.sink import DeliveryFailed, OutboundMessage, Sink

Key = tuple[str, str, str | None]  # sku, site, lot


@dataclass(slots=True)
class InboundMessage:
    """A message from the fake system to us: an id of its own and the commands it carries."""

    message_id: str
    commands: list[dict[str, Any]]


@dataclass(slots=True)
class FakeWms(Sink):
    """A fake WMS/ERP. ``deliver`` makes it a ``Sink`` for the outbox relay."""

    name: str = "WMS"
    on_hand: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    in_transit: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> payload
    effects: int = 0  # orders applied (a duplicate delivery does not count)
    deliveries: int = 0  # calls to deliver, duplicates included
    down: bool = False
    fail_next: int = 0  # transient failures still to raise
    lose_reply_next: int = 0  # apply, then raise as if the reply was lost
    refuse_topics: set[str] = field(default_factory=set)
    clock: Clock = SYSTEM_CLOCK  # stamps a snapshot's as_of when none is given
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- outbound: what we send it -----------------------------------------------------------
    def deliver(self, message: OutboundMessage) -> None:
        with self._lock:
            self.deliveries += 1
            if self.down:
                raise DeliveryFailed(f"{self.name} unreachable")
            if self.fail_next > 0:
                self.fail_next -= 1
                raise DeliveryFailed(f"{self.name} answered 503")
            if message.topic in self.refuse_topics:
                raise DeliveryFailed(f"{self.name} refused {message.topic}: 422", permanent=True)
            if message.message_id not in self.orders:
                self.orders[message.message_id] = dict(message.payload)
                self._apply(message.topic, message.payload)
                self.effects += 1
            if self.lose_reply_next > 0:
                self.lose_reply_next -= 1
                raise DeliveryFailed(f"{self.name}: connection reset before the reply")

    def _apply(self, topic: str, p: Any) -> None:
        if topic == "transfer.dispatched":
            self.on_hand[(p["sku"], p["from_site"], p.get("lot"))] -= int(p["qty"])
            self.in_transit[(p["sku"], p["to_site"])] += int(p["qty"])

    def orders_for(self, topic: str) -> list[dict[str, Any]]:
        return [p for p in self.orders.values() if p.get("command") and _topic_of(p) == topic]

    # -- its own book ---------------------------------------------------------------------------
    def set_stock(self, sku: str, site: str, qty: int, lot: str | None = None) -> None:
        self.on_hand[(sku, site, lot)] = qty

    def snapshot(self, *, lots: bool = True, as_of: str | None = None) -> list[dict[str, Any]]:
        """Rows ``sku, site, lot, on_hand, in_transit, as_of`` as a WMS export would list them."""
        stamp = as_of or self.clock.now().isoformat()
        rows: dict[Key, dict[str, Any]] = {}
        for (sku, site, lot), qty in sorted(self.on_hand.items(), key=lambda kv: tuple(map(str, kv[0]))):
            key = (sku, site, lot if lots else None)
            row = rows.setdefault(key, {"sku": sku, "site": site, "lot": key[2], "on_hand": 0,
                                        "in_transit": 0, "as_of": stamp})
            row["on_hand"] += qty
        for (sku, site), qty in self.in_transit.items():
            row = rows.setdefault((sku, site, None), {"sku": sku, "site": site, "lot": None, "on_hand": 0,
                                                      "in_transit": 0, "as_of": stamp})
            row["in_transit"] += qty
        return list(rows.values())

    # -- inbound: what it tells us -----------------------------------------------------------
    def _message(self, commands: list[dict[str, Any]]) -> InboundMessage:
        return InboundMessage(f"{self.name}-{next(self._ids)}", commands)

    def receive(self, sku: str, site: str, qty: int, lot: str | None = None,
                expiry: str | None = None) -> InboundMessage:
        """Goods received at the warehouse: its book changes, and it tells us."""
        self.on_hand[(sku, site, lot)] += qty
        body = {"command": "ReceiveStock", "sku": sku, "site": site, "qty": qty}
        if lot:
            body["lot"] = lot
            if expiry:
                body["expiry"] = expiry
        return self._message([body])

    def ship(self, sku: str, site: str, qty: int) -> InboundMessage:
        self.on_hand[(sku, site, None)] -= qty
        return self._message([{"command": "ShipStock", "sku": sku, "site": site, "qty": qty}])


def _topic_of(payload: dict[str, Any]) -> str:
    return {
        "PlacePurchaseOrder": "purchase_order.placed", "CancelPurchaseOrder": "purchase_order.cancelled",
        "DispatchTransfer": "transfer.dispatched", "ReceiveTransfer": "transfer.received",
        "ReserveStock": "reservation.opened", "ReleaseReservation": "reservation.released",
    }.get(str(payload.get("command")), "")
