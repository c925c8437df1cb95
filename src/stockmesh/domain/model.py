"""The canonical model: SKUs, sites, lots and the stock position of one SKU at one site."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SiteKind(StrEnum):
    SUPPLIER = "supplier"
    DC = "dc"
    STORE = "store"


class NegativeStockPolicy(StrEnum):
    """What a site does when a move would take available stock below zero."""

    REJECT = "reject"  # refuse the command (the default)
    ALLOW = "allow"  # accept it and flag the position for reconciliation


@dataclass(slots=True)
class SkuState:
    sku: str
    unit_cost: float = 0.0
    pack_size: int = 1
    shelf_life_days: int | None = None
    base_unit: str = "each"


@dataclass(slots=True)
class SiteState:
    site: str
    kind: str = SiteKind.STORE.value
    negative_stock: str = NegativeStockPolicy.REJECT.value


@dataclass(slots=True)
class StockState:
    """Stock of one SKU at one site. Quantities are integers in the SKU's base unit.

    ``on_hand`` excludes quarantined units. ``lots`` maps a lot code to
    ``[on_hand, quarantined, expiry]``; units not in any lot are ``on_hand - sum(lot on_hand)``.
    """

    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    on_order: int = 0
    backordered: int = 0
    quarantined: int = 0
    flagged: bool = False
    lots: dict[str, list[object]] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def inventory_position(self) -> int:
        """What replenishment looks at: on hand + in transit + on order - reserved - backordered."""
        return self.on_hand + self.in_transit + self.on_order - self.reserved - self.backordered

    def lot_on_hand(self, lot: str) -> int:
        entry = self.lots.get(lot)
        return int(entry[0]) if entry else 0  # type: ignore[call-overload]

    def lot_quarantined(self, lot: str) -> int:
        entry = self.lots.get(lot)
        return int(entry[1]) if entry else 0  # type: ignore[call-overload]

    @property
    def unlotted_on_hand(self) -> int:
        return self.on_hand - sum(int(v[0]) for v in self.lots.values())  # type: ignore[call-overload]

    @property
    def unlotted_quarantined(self) -> int:
        return self.quarantined - sum(int(v[1]) for v in self.lots.values())  # type: ignore[call-overload]


@dataclass(slots=True)
class ReservationState:
    reservation_id: str
    sku: str
    site: str
    qty: int
    fulfilled: int = 0
    released: int = 0

    @property
    def open_qty(self) -> int:
        return self.qty - self.fulfilled - self.released


@dataclass(slots=True)
class TransferState:
    transfer_id: str
    sku: str
    from_site: str
    to_site: str
    qty: int
    received: int = 0
    lost: int = 0
    lot: str | None = None
    expiry: str | None = None

    @property
    def open_qty(self) -> int:
        return self.qty - self.received - self.lost


@dataclass(slots=True)
class PurchaseOrderState:
    po_id: str
    sku: str
    site: str
    supplier: str
    qty: int
    received: int = 0
    cancelled: int = 0
    expected_at: str | None = None

    @property
    def open_qty(self) -> int:
        return self.qty - self.received - self.cancelled


def stock_stream(sku: str, site: str) -> str:
    return f"stock:{sku}@{site}"


def parse_stock_stream(stream_id: str) -> tuple[str, str]:
    body = stream_id.removeprefix("stock:")
    sku, _, site = body.rpartition("@")
    return sku, site


State = SkuState | SiteState | StockState | ReservationState | TransferState | PurchaseOrderState
