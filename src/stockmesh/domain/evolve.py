"""``evolve(state, event) -> state``: how each stream's state follows from its events. Pure.

Replay of a stream is ``functools.reduce`` over its events starting from ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockmesh.domain import events as ev
from stockmesh.domain.model import (
    PurchaseOrderState,
    ReservationState,
    SiteState,
    SkuState,
    State,
    StockState,
    TransferState,
)


def _copy(state: StockState | None, with_lots: bool = False) -> StockState:
    if state is None:
        return StockState()
    lots = {k: list(v) for k, v in state.lots.items()} if with_lots else state.lots
    return StockState(
        on_hand=state.on_hand, reserved=state.reserved, in_transit=state.in_transit,
        on_order=state.on_order, backordered=state.backordered, quarantined=state.quarantined,
        flagged=state.flagged, lots=lots,
    )


def _lot_add(state: StockState, lot: str, on_hand: int, quarantined: int, expiry: str | None = None) -> None:
    entry = state.lots.get(lot)
    if entry is None:
        entry = state.lots[lot] = [0, 0, expiry]
    entry[0] = int(entry[0]) + on_hand  # type: ignore[call-overload]
    entry[1] = int(entry[1]) + quarantined  # type: ignore[call-overload]
    if expiry is not None:
        entry[2] = expiry
    if entry[0] == 0 and entry[1] == 0:
        del state.lots[lot]


def _take_lots(state: StockState, lots: list[list[object]] | None, sign: int = -1, to_quarantine: int = 0) -> None:
    for lot, qty in lots or ():
        q = int(qty)  # type: ignore[call-overload]
        _lot_add(state, str(lot), sign * q, to_quarantine * q)


def _stock(state: State | None, event: ev.Event) -> StockState:
    assert state is None or isinstance(state, StockState)
    match event:
        case ev.StockReceived() | ev.TransferStockReceived() | ev.PurchaseOrderStockReceived():
            s = _copy(state, with_lots=event.lot is not None)
            s.on_hand += event.qty
            if isinstance(event, ev.TransferStockReceived):
                s.in_transit -= event.qty
            elif isinstance(event, ev.PurchaseOrderStockReceived):
                s.on_order -= event.qty
            if event.lot is not None:
                _lot_add(s, event.lot, event.qty, 0, event.expiry)
            return s
        case ev.StockShipped() | ev.TransferShippedOut() | ev.BackorderFilled() | ev.ReservedStockShipped():
            s = _copy(state, with_lots=bool(event.lots))
            s.on_hand -= event.qty
            if isinstance(event, ev.BackorderFilled):
                s.backordered -= event.qty
            elif isinstance(event, ev.ReservedStockShipped):
                s.reserved -= event.qty
            _take_lots(s, event.lots)
            return s
        case ev.StockAdjusted():
            s = _copy(state, with_lots=bool(event.lots))
            s.on_hand += event.delta
            _take_lots(s, event.lots, sign=1 if event.delta > 0 else -1)
            return s
        case ev.StockCounted():
            s = _copy(state, with_lots=event.lot is not None)
            s.on_hand += event.variance
            if event.lot is not None:
                _lot_add(s, event.lot, event.variance, 0)
            return s
        case ev.StockReserved():
            s = _copy(state)
            s.reserved += event.qty
            return s
        case ev.ReservedStockReleased():
            s = _copy(state)
            s.reserved -= event.qty
            return s
        case ev.TransferInboundRecorded():
            s = _copy(state)
            s.in_transit += event.qty
            return s
        case ev.TransferStockLost():
            s = _copy(state)
            s.in_transit -= event.qty
            return s
        case ev.PurchaseOrderStockExpected():
            s = _copy(state)
            s.on_order += event.qty
            return s
        case ev.PurchaseOrderStockCancelled():
            s = _copy(state)
            s.on_order -= event.qty
            return s
        case ev.StockQuarantined():
            s = _copy(state, with_lots=bool(event.lots))
            s.on_hand -= event.qty
            s.quarantined += event.qty
            _take_lots(s, event.lots, sign=-1, to_quarantine=1)
            return s
        case ev.QuarantineReleased():
            s = _copy(state, with_lots=bool(event.lots))
            s.on_hand += event.qty
            s.quarantined -= event.qty
            _take_lots(s, event.lots, sign=1, to_quarantine=-1)
            return s
        case ev.LotExpired():
            s = _copy(state, with_lots=True)
            s.on_hand -= event.on_hand
            s.quarantined -= event.quarantined
            s.lots.pop(event.lot, None)
            return s
        case ev.BackorderRecorded():
            s = _copy(state)
            s.backordered += event.qty
            return s
        case ev.PositionFlagged():
            s = _copy(state)
            s.flagged = True
            return s
        case ev.PositionFlagCleared():
            s = _copy(state)
            s.flagged = False
            return s
    raise ValueError(f"event {event.type} does not apply to a stock stream")


def _sku(state: State | None, event: ev.Event) -> SkuState:
    assert isinstance(event, ev.SkuRegistered)
    return SkuState(sku=event.sku, unit_cost=event.unit_cost, pack_size=event.pack_size,
                    shelf_life_days=event.shelf_life_days, base_unit=event.base_unit)


def _site(state: State | None, event: ev.Event) -> SiteState:
    assert isinstance(event, ev.SiteRegistered)
    return SiteState(site=event.site, kind=event.kind, negative_stock=event.negative_stock)


def _reservation(state: State | None, event: ev.Event) -> ReservationState:
    if isinstance(event, ev.ReservationOpened):
        return ReservationState(reservation_id=event.reservation_id, sku=event.sku, site=event.site, qty=event.qty)
    assert isinstance(state, ReservationState)
    if isinstance(event, ev.ReservationReleased):
        return ReservationState(**{**_fields(state), "released": state.released + event.qty})
    if isinstance(event, ev.ReservationFulfilled):
        return ReservationState(**{**_fields(state), "fulfilled": state.fulfilled + event.qty})
    raise ValueError(f"event {event.type} does not apply to a reservation")


def _transfer(state: State | None, event: ev.Event) -> TransferState:
    if isinstance(event, ev.TransferDispatched):
        return TransferState(transfer_id=event.transfer_id, sku=event.sku, from_site=event.from_site,
                             to_site=event.to_site, qty=event.qty, lot=event.lot, expiry=event.expiry)
    assert isinstance(state, TransferState)
    if isinstance(event, ev.TransferReceived):
        return TransferState(**{**_fields(state), "received": state.received + event.qty})
    if isinstance(event, ev.TransferLost):
        return TransferState(**{**_fields(state), "lost": state.lost + event.qty})
    raise ValueError(f"event {event.type} does not apply to a transfer")


def _purchase_order(state: State | None, event: ev.Event) -> PurchaseOrderState:
    if isinstance(event, ev.PurchaseOrderPlaced):
        return PurchaseOrderState(po_id=event.po_id, sku=event.sku, site=event.site, supplier=event.supplier,
                                  qty=event.qty, expected_at=event.expected_at)
    assert isinstance(state, PurchaseOrderState)
    if isinstance(event, ev.PurchaseOrderReceived):
        return PurchaseOrderState(**{**_fields(state), "received": state.received + event.qty})
    if isinstance(event, ev.PurchaseOrderCancelled):
        return PurchaseOrderState(**{**_fields(state), "cancelled": state.cancelled + event.qty})
    raise ValueError(f"event {event.type} does not apply to a purchase order")


def _fields(state: Any) -> dict[str, Any]:
    return {name: getattr(state, name) for name in state.__slots__}


_BY_PREFIX: dict[str, Callable[[State | None, ev.Event], State]] = {
    "stock": _stock,
    "sku": _sku,
    "site": _site,
    "reservation": _reservation,
    "transfer": _transfer,
    "po": _purchase_order,
}

STATE_TYPES: dict[str, type] = {
    "stock": StockState, "sku": SkuState, "site": SiteState, "reservation": ReservationState,
    "transfer": TransferState, "po": PurchaseOrderState,
}


def stream_kind(stream_id: str) -> str:
    return stream_id.split(":", 1)[0]


def evolve(stream_id: str, state: State | None, event: ev.Event) -> State:
    """The state of ``stream_id`` after ``event``; the input state is never modified."""
    if stream_id.startswith("stock:"):
        return _stock(state, event)
    return _BY_PREFIX[stream_kind(stream_id)](state, event)
