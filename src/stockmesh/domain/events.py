"""Events: what happened. Past-tense names, frozen keyword-only dataclasses, one stream each.

``type`` is the stable name stored in the ledger (never a Python path); ``schema_version`` rises
when a shape changes, and ``ledger.upcasting`` lifts old shapes on read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1


# --- master data ---------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class SkuRegistered(Event):
    type: ClassVar[str] = "SkuRegistered"
    sku: str
    unit_cost: float
    pack_size: int
    shelf_life_days: int | None
    base_unit: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SiteRegistered(Event):
    type: ClassVar[str] = "SiteRegistered"
    site: str
    kind: str
    negative_stock: str


# --- stock streams (stock:SKU@SITE) ----------------------------------------------------------------
# ``lots`` is a list of [lot, qty] pairs saying which lots a move took from or added to.

@dataclass(frozen=True, kw_only=True, slots=True)
class StockReceived(Event):
    type: ClassVar[str] = "StockReceived"
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StockShipped(Event):
    type: ClassVar[str] = "StockShipped"
    qty: int
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StockAdjusted(Event):
    type: ClassVar[str] = "StockAdjusted"
    delta: int
    reason: str
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StockCounted(Event):
    type: ClassVar[str] = "StockCounted"
    counted: int
    variance: int
    lot: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StockReserved(Event):
    type: ClassVar[str] = "StockReserved"
    reservation_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservedStockReleased(Event):
    type: ClassVar[str] = "ReservedStockReleased"
    reservation_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservedStockShipped(Event):
    type: ClassVar[str] = "ReservedStockShipped"
    reservation_id: str
    qty: int
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferShippedOut(Event):
    type: ClassVar[str] = "TransferShippedOut"
    transfer_id: str
    to_site: str
    qty: int
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferInboundRecorded(Event):
    type: ClassVar[str] = "TransferInboundRecorded"
    transfer_id: str
    from_site: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferStockReceived(Event):
    type: ClassVar[str] = "TransferStockReceived"
    transfer_id: str
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferStockLost(Event):
    type: ClassVar[str] = "TransferStockLost"
    transfer_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderStockExpected(Event):
    type: ClassVar[str] = "PurchaseOrderStockExpected"
    po_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderStockReceived(Event):
    type: ClassVar[str] = "PurchaseOrderStockReceived"
    po_id: str
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderStockCancelled(Event):
    type: ClassVar[str] = "PurchaseOrderStockCancelled"
    po_id: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StockQuarantined(Event):
    type: ClassVar[str] = "StockQuarantined"
    qty: int
    lots: list[list[object]] | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QuarantineReleased(Event):
    type: ClassVar[str] = "QuarantineReleased"
    qty: int
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LotExpired(Event):
    type: ClassVar[str] = "LotExpired"
    lot: str
    on_hand: int
    quarantined: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BackorderRecorded(Event):
    type: ClassVar[str] = "BackorderRecorded"
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BackorderFilled(Event):
    type: ClassVar[str] = "BackorderFilled"
    qty: int
    lots: list[list[object]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionFlagged(Event):
    """Available stock went below zero under an ``allow`` policy: reconcile this position."""

    type: ClassVar[str] = "PositionFlagged"
    available: int
    cause: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionFlagCleared(Event):
    type: ClassVar[str] = "PositionFlagCleared"
    available: int


# --- document streams (reservation:, transfer:, po:) ---------------------------------------------

@dataclass(frozen=True, kw_only=True, slots=True)
class ReservationOpened(Event):
    type: ClassVar[str] = "ReservationOpened"
    reservation_id: str
    sku: str
    site: str
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservationReleased(Event):
    type: ClassVar[str] = "ReservationReleased"
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservationFulfilled(Event):
    type: ClassVar[str] = "ReservationFulfilled"
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferDispatched(Event):
    type: ClassVar[str] = "TransferDispatched"
    transfer_id: str
    sku: str
    from_site: str
    to_site: str
    qty: int
    lot: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferReceived(Event):
    type: ClassVar[str] = "TransferReceived"
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferLost(Event):
    type: ClassVar[str] = "TransferLost"
    qty: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderPlaced(Event):
    type: ClassVar[str] = "PurchaseOrderPlaced"
    po_id: str
    sku: str
    site: str
    supplier: str
    qty: int
    expected_at: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderReceived(Event):
    type: ClassVar[str] = "PurchaseOrderReceived"
    qty: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderCancelled(Event):
    type: ClassVar[str] = "PurchaseOrderCancelled"
    qty: int
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PurchaseOrderExpedited(Event):
    """The open order ships by a faster mode from now on; ``expected_at`` is its new ETA if known."""

    type: ClassVar[str] = "PurchaseOrderExpedited"
    mode: str
    expected_at: str | None = None
    reason: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        SkuRegistered, SiteRegistered, StockReceived, StockShipped, StockAdjusted, StockCounted,
        StockReserved, ReservedStockReleased, ReservedStockShipped, TransferShippedOut,
        TransferInboundRecorded, TransferStockReceived, TransferStockLost, PurchaseOrderStockExpected,
        PurchaseOrderStockReceived, PurchaseOrderStockCancelled, StockQuarantined, QuarantineReleased,
        LotExpired, BackorderRecorded, BackorderFilled, PositionFlagged, PositionFlagCleared,
        ReservationOpened, ReservationReleased, ReservationFulfilled, TransferDispatched,
        TransferReceived, TransferLost, PurchaseOrderPlaced, PurchaseOrderReceived,
        PurchaseOrderCancelled, PurchaseOrderExpedited,
    )
}


def register(*classes: type[Event]) -> None:
    """Add event types defined outside this module (forecasts, proposals, policies) to the registry.
    Their stable ``type`` names must be unique across the project."""
    for cls in classes:
        existing = EVENT_TYPES.get(cls.type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.type!r} is registered twice")
        EVENT_TYPES[cls.type] = cls
