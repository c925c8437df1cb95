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


def _received(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=e.lot is not None)
    out.on_hand += e.qty
    if e.lot is not None:
        _lot_add(out, e.lot, e.qty, 0, e.expiry)
    return out


def _transfer_received(s: StockState | None, e: Any) -> StockState:
    out = _received(s, e)
    out.in_transit -= e.qty
    return out


def _po_received(s: StockState | None, e: Any) -> StockState:
    out = _received(s, e)
    out.on_order -= e.qty
    return out


def _shipped(s: StockState | None, e: Any) -> StockState:
    if s is not None and not e.lots:  # the hot path of every sale: positional, no lot bookkeeping
        return StockState(s.on_hand - e.qty, s.reserved, s.in_transit, s.on_order, s.backordered, s.quarantined,
                          s.flagged, s.lots)
    out = _copy(s, with_lots=bool(e.lots))
    out.on_hand -= e.qty
    _take_lots(out, e.lots)
    return out


def _backorder_filled(s: StockState | None, e: Any) -> StockState:
    out = _shipped(s, e)
    out.backordered -= e.qty
    return out


def _reserved_shipped(s: StockState | None, e: Any) -> StockState:
    out = _shipped(s, e)
    out.reserved -= e.qty
    return out


def _adjusted(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=bool(e.lots))
    out.on_hand += e.delta
    _take_lots(out, e.lots, sign=1 if e.delta > 0 else -1)
    return out


def _counted(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=e.lot is not None)
    out.on_hand += e.variance
    if e.lot is not None:
        _lot_add(out, e.lot, e.variance, 0)
    return out


def _quarantined(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=bool(e.lots))
    out.on_hand -= e.qty
    out.quarantined += e.qty
    _take_lots(out, e.lots, sign=-1, to_quarantine=1)
    return out


def _quarantine_released(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=bool(e.lots))
    out.on_hand += e.qty
    out.quarantined -= e.qty
    _take_lots(out, e.lots, sign=1, to_quarantine=-1)
    return out


def _lot_expired(s: StockState | None, e: Any) -> StockState:
    out = _copy(s, with_lots=True)
    out.on_hand -= e.on_hand
    out.quarantined -= e.quarantined
    out.lots.pop(e.lot, None)
    return out


def _counter(name: str, sign: int) -> Callable[[StockState | None, Any], StockState]:
    """An event that moves one counter (reserved, in transit, on order, backordered) by its qty."""
    def apply(s: StockState | None, e: Any) -> StockState:
        out = _copy(s)
        setattr(out, name, getattr(out, name) + sign * e.qty)
        return out

    return apply


def _flag(value: bool) -> Callable[[StockState | None, Any], StockState]:
    def apply(s: StockState | None, e: Any) -> StockState:
        out = _copy(s)
        out.flagged = value
        return out

    return apply


# One function per stock event type: a dict lookup instead of a cascade of isinstance checks,
# because replay folds millions of these.
_STOCK: dict[type[ev.Event], Callable[[StockState | None, Any], StockState]] = {
    ev.StockReceived: _received,
    ev.TransferStockReceived: _transfer_received,
    ev.PurchaseOrderStockReceived: _po_received,
    ev.StockShipped: _shipped,
    ev.TransferShippedOut: _shipped,
    ev.BackorderFilled: _backorder_filled,
    ev.ReservedStockShipped: _reserved_shipped,
    ev.StockAdjusted: _adjusted,
    ev.StockCounted: _counted,
    ev.StockReserved: _counter("reserved", 1),
    ev.ReservedStockReleased: _counter("reserved", -1),
    ev.TransferInboundRecorded: _counter("in_transit", 1),
    ev.TransferStockLost: _counter("in_transit", -1),
    ev.PurchaseOrderStockExpected: _counter("on_order", 1),
    ev.PurchaseOrderStockCancelled: _counter("on_order", -1),
    ev.StockQuarantined: _quarantined,
    ev.QuarantineReleased: _quarantine_released,
    ev.LotExpired: _lot_expired,
    ev.BackorderRecorded: _counter("backordered", 1),
    ev.PositionFlagged: _flag(True),
    ev.PositionFlagCleared: _flag(False),
}

STOCK_EVENT_TYPES: tuple[type[ev.Event], ...] = tuple(_STOCK)


def _stock(state: State | None, event: ev.Event) -> StockState:
    assert state is None or isinstance(state, StockState)
    apply = _STOCK.get(type(event))
    if apply is None:
        raise ValueError(f"event {event.type} does not apply to a stock stream")
    return apply(state, event)


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
    if isinstance(event, ev.PurchaseOrderExpedited):
        return PurchaseOrderState(**{**_fields(state), "expected_at": event.expected_at or state.expected_at})
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
