"""``decide(command, get) -> [(stream_id, event), ...]``: what a command makes happen. Pure.

``get(stream_id)`` returns the current state of a stream (``None`` when it has no events). Decide
never changes a state: the caller folds the returned events with ``evolve``. A command that breaks
a rule raises a ``DomainError`` and yields nothing, so a batch can skip it cleanly.

Each command class has one handler, a function taking that class, registered in ``_HANDLERS`` at
the end of the module; ``decide`` looks it up by the command's class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from stockmesh.domain import commands as cmd
from stockmesh.domain import events as ev
from stockmesh.domain.errors import AlreadyExists, InsufficientStock, InvalidTransition, UnknownEntity
from stockmesh.domain.evolve import evolve
from stockmesh.domain.model import (
    PurchaseOrderState,
    ReservationState,
    SiteKind,
    SiteState,
    SkuState,
    State,
    StockState,
    TransferState,
    stock_stream,
)

Getter = Callable[[str], State | None]
Decision = list[tuple[str, ev.Event]]


def _sku(get: Getter, sku: str, field: str = "sku") -> SkuState:
    state = get(f"sku:{sku}")
    if not isinstance(state, SkuState):
        raise UnknownEntity(f"unknown SKU {sku!r}", field=field)
    return state


def _site(get: Getter, site: str, field: str = "site") -> SiteState:
    state = get(f"site:{site}")
    if not isinstance(state, SiteState):
        raise UnknownEntity(f"unknown site {site!r}", field=field)
    return state


def _stock(get: Getter, sku: str, site: str) -> StockState:
    state = get(stock_stream(sku, site))
    return state if isinstance(state, StockState) else StockState()


def _allows_negative(site: SiteState) -> bool:
    return site.negative_stock == "allow"


def _allocate_lots(stock: StockState, qty: int, lot: str | None, *, what: str, quarantined: bool = False,
                   allow_short: bool = False) -> list[list[object]] | None:
    """Which lots ``qty`` units come from: the named lot, or unlotted units first, then first-expiry-first."""
    if lot is None and not stock.lots:
        return None  # nothing is lotted here: no lots to take from
    if lot is not None:
        have = stock.lot_quarantined(lot) if quarantined else stock.lot_on_hand(lot)
        if have < qty:
            raise InsufficientStock(f"lot {lot!r} has {have} units {what}, {qty} asked", field="lot")
        return [[lot, qty]]
    free = stock.unlotted_quarantined if quarantined else stock.unlotted_on_hand
    remaining = qty - max(free, 0)
    if remaining <= 0 or not stock.lots:
        return None
    taken: list[list[object]] = []
    index = 1 if quarantined else 0
    for code, entry in sorted(stock.lots.items(), key=lambda kv: (kv[1][2] is None, str(kv[1][2]), kv[0])):
        have = int(entry[index])  # type: ignore[call-overload]
        if have <= 0:
            continue
        q = min(have, remaining)
        taken.append([code, q])
        remaining -= q
        if remaining == 0:
            break
    if remaining > 0 and not allow_short:
        raise InsufficientStock(f"only {qty - remaining} units {what}, {qty} asked", field="qty")
    return taken or None


def _flag_if_negative(decision: Decision, stream: str, before: StockState, cause: str,
                      site: SiteState | None = None) -> Decision:
    """Flag the position when the decision leaves available stock below zero.

    An intent (``site`` given) at a ``reject`` site was already refused if it would go negative, so
    only ``allow`` sites and facts (adjustments, counts, expiries: ``site`` None) need the check."""
    if site is not None and not _allows_negative(site):
        return decision
    after: StockState = before
    for stream_id, event in decision:
        if stream_id == stream:
            after = evolve(stream_id, after, event)  # type: ignore[assignment]
    if after.available < 0 and not after.flagged:
        decision.append((stream, ev.PositionFlagged(available=after.available, cause=cause)))
    return decision


def _take(get: Getter, sku: str, site_id: str, qty: int, *, field: str = "qty",
          reserved_ok: bool = False) -> tuple[StockState, SiteState]:
    """Check that ``qty`` units can leave; return the stock state and the site."""
    _sku(get, sku)
    site = _site(get, site_id, "from_site" if field == "from_site" else "site")
    stock = _stock(get, sku, site_id)
    have = stock.on_hand if reserved_ok else stock.available
    if qty > have and not _allows_negative(site):
        raise InsufficientStock(
            f"{sku} at {site_id}: {have} available, {qty} asked", field="qty"
        )
    return stock, site


def decide(command: cmd.Command, get: Getter) -> Decision:
    handler = _HANDLERS[type(command)]
    return handler(command, get)


def _register_sku(c: cmd.RegisterSku, get: Getter) -> Decision:
    current = get(f"sku:{c.sku}")
    new = ev.SkuRegistered(sku=c.sku, unit_cost=c.unit_cost, pack_size=c.pack_size,
                           shelf_life_days=c.shelf_life_days, base_unit=c.base_unit)
    if isinstance(current, SkuState) and current == SkuState(
        sku=c.sku, unit_cost=c.unit_cost, pack_size=c.pack_size, shelf_life_days=c.shelf_life_days,
        base_unit=c.base_unit,
    ):
        return []
    return [(f"sku:{c.sku}", new)]


def _register_site(c: cmd.RegisterSite, get: Getter) -> Decision:
    current = get(f"site:{c.site}")
    if isinstance(current, SiteState):
        if current.kind != c.kind:
            raise AlreadyExists(f"site {c.site!r} is already a {current.kind}", field="kind")
        if current.negative_stock == c.negative_stock:
            return []
    return [(f"site:{c.site}", ev.SiteRegistered(site=c.site, kind=c.kind, negative_stock=c.negative_stock))]


def _receive(c: cmd.ReceiveStock, get: Getter) -> Decision:
    _sku(get, c.sku)
    _site(get, c.site)
    return [(stock_stream(c.sku, c.site), ev.StockReceived(qty=c.qty, lot=c.lot, expiry=c.expiry))]


def _ship(c: cmd.ShipStock, get: Getter) -> Decision:
    stock, site = _take(get, c.sku, c.site, c.qty)
    lots = _allocate_lots(stock, c.qty, c.lot, what="on hand", allow_short=_allows_negative(site))
    stream = stock_stream(c.sku, c.site)
    return _flag_if_negative([(stream, ev.StockShipped(qty=c.qty, lots=lots))], stream, stock, "ShipStock", site)


def _adjust(c: cmd.AdjustStock, get: Getter) -> Decision:
    _sku(get, c.sku)
    site = _site(get, c.site)
    stock = _stock(get, c.sku, c.site)
    stream = stock_stream(c.sku, c.site)
    lots: list[list[object]] | None
    if c.delta > 0:
        lots = [[c.lot, c.delta]] if c.lot else None
    else:
        if stock.on_hand + c.delta < 0 and not _allows_negative(site):
            raise InsufficientStock(f"{c.sku} at {c.site}: {stock.on_hand} on hand, cannot remove {-c.delta}",
                                    field="delta")
        lots = _allocate_lots(stock, -c.delta, c.lot, what="on hand", allow_short=True)
    return _flag_if_negative([(stream, ev.StockAdjusted(delta=c.delta, reason=c.reason, lots=lots))], stream,
                             stock, "AdjustStock")


def _count(c: cmd.RecordCount, get: Getter) -> Decision:
    _sku(get, c.sku)
    _site(get, c.site)
    stock = _stock(get, c.sku, c.site)
    stream = stock_stream(c.sku, c.site)
    book = stock.lot_on_hand(c.lot) if c.lot else stock.unlotted_on_hand
    decision: Decision = [(stream, ev.StockCounted(counted=c.counted, variance=c.counted - book, lot=c.lot))]
    after = evolve(stream, stock, decision[0][1])
    assert isinstance(after, StockState)
    if after.available < 0 and not stock.flagged:
        decision.append((stream, ev.PositionFlagged(available=after.available, cause="RecordCount")))
    elif after.available >= 0 and stock.flagged:
        decision.append((stream, ev.PositionFlagCleared(available=after.available)))
    return decision


def _reserve(c: cmd.ReserveStock, get: Getter) -> Decision:
    if get(f"reservation:{c.reservation_id}") is not None:
        raise AlreadyExists(f"reservation {c.reservation_id!r} already exists", field="reservation_id")
    stock, site = _take(get, c.sku, c.site, c.qty)
    stream = stock_stream(c.sku, c.site)
    decision: Decision = [
        (f"reservation:{c.reservation_id}",
         ev.ReservationOpened(reservation_id=c.reservation_id, sku=c.sku, site=c.site, qty=c.qty)),
        (stream, ev.StockReserved(reservation_id=c.reservation_id, qty=c.qty)),
    ]
    return _flag_if_negative(decision, stream, stock, "ReserveStock", site)


def _reservation(get: Getter, reservation_id: str, qty: int | None) -> tuple[ReservationState, int]:
    state = get(f"reservation:{reservation_id}")
    if not isinstance(state, ReservationState):
        raise UnknownEntity(f"unknown reservation {reservation_id!r}", field="reservation_id")
    if state.open_qty == 0:
        raise InvalidTransition(f"reservation {reservation_id!r} is already closed", field="reservation_id")
    qty = state.open_qty if qty is None else qty
    if qty > state.open_qty:
        raise InvalidTransition(f"reservation {reservation_id!r} has {state.open_qty} units open, {qty} asked",
                                field="qty")
    return state, qty


def _release(c: cmd.ReleaseReservation, get: Getter) -> Decision:
    r, qty = _reservation(get, c.reservation_id, c.qty)
    return [
        (f"reservation:{c.reservation_id}", ev.ReservationReleased(qty=qty)),
        (stock_stream(r.sku, r.site), ev.ReservedStockReleased(reservation_id=c.reservation_id, qty=qty)),
    ]


def _fulfil(c: cmd.FulfilReservation, get: Getter) -> Decision:
    r, qty = _reservation(get, c.reservation_id, c.qty)
    stock, site = _take(get, r.sku, r.site, qty, reserved_ok=True)
    lots = _allocate_lots(stock, qty, None, what="on hand", allow_short=_allows_negative(site))
    stream = stock_stream(r.sku, r.site)
    decision: Decision = [
        (f"reservation:{c.reservation_id}", ev.ReservationFulfilled(qty=qty)),
        (stream, ev.ReservedStockShipped(reservation_id=c.reservation_id, qty=qty, lots=lots)),
    ]
    return _flag_if_negative(decision, stream, stock, "FulfilReservation", site)


def _dispatch(c: cmd.DispatchTransfer, get: Getter) -> Decision:
    if get(f"transfer:{c.transfer_id}") is not None:
        raise AlreadyExists(f"transfer {c.transfer_id!r} already exists", field="transfer_id")
    _site(get, c.to_site, "to_site")
    stock, site = _take(get, c.sku, c.from_site, c.qty, field="from_site")
    lots = _allocate_lots(stock, c.qty, c.lot, what="on hand", allow_short=_allows_negative(site))
    expiry: str | None = None
    if c.lot is not None:
        entry = stock.lots.get(c.lot)
        expiry = str(entry[2]) if entry and entry[2] is not None else None
    out_stream = stock_stream(c.sku, c.from_site)
    decision: Decision = [
        (f"transfer:{c.transfer_id}", ev.TransferDispatched(
            transfer_id=c.transfer_id, sku=c.sku, from_site=c.from_site, to_site=c.to_site, qty=c.qty,
            lot=c.lot, expiry=expiry)),
        (out_stream, ev.TransferShippedOut(transfer_id=c.transfer_id, to_site=c.to_site, qty=c.qty, lots=lots)),
        (stock_stream(c.sku, c.to_site),
         ev.TransferInboundRecorded(transfer_id=c.transfer_id, from_site=c.from_site, qty=c.qty)),
    ]
    return _flag_if_negative(decision, out_stream, stock, "DispatchTransfer", site)


def _transfer(get: Getter, transfer_id: str, qty: int, verb: str) -> TransferState:
    state = get(f"transfer:{transfer_id}")
    if not isinstance(state, TransferState):
        raise UnknownEntity(f"unknown transfer {transfer_id!r}", field="transfer_id")
    if state.open_qty == 0:
        raise InvalidTransition(f"transfer {transfer_id!r} is already closed: nothing left to {verb}",
                                field="transfer_id")
    if qty > state.open_qty:
        raise InvalidTransition(f"transfer {transfer_id!r} has {state.open_qty} units in transit, "
                                f"cannot {verb} {qty}", field="qty")
    return state


def _receive_transfer(c: cmd.ReceiveTransfer, get: Getter) -> Decision:
    t = _transfer(get, c.transfer_id, c.qty, "receive")
    return [
        (f"transfer:{c.transfer_id}", ev.TransferReceived(qty=c.qty)),
        (stock_stream(t.sku, t.to_site),
         ev.TransferStockReceived(transfer_id=c.transfer_id, qty=c.qty, lot=t.lot, expiry=t.expiry)),
    ]


def _lose_transfer(c: cmd.DeclareTransferLoss, get: Getter) -> Decision:
    t = _transfer(get, c.transfer_id, c.qty, "declare lost")
    return [
        (f"transfer:{c.transfer_id}", ev.TransferLost(qty=c.qty, reason=c.reason)),
        (stock_stream(t.sku, t.to_site), ev.TransferStockLost(transfer_id=c.transfer_id, qty=c.qty)),
    ]


def _place_po(c: cmd.PlacePurchaseOrder, get: Getter) -> Decision:
    if get(f"po:{c.po_id}") is not None:
        raise AlreadyExists(f"purchase order {c.po_id!r} already exists", field="po_id")
    _sku(get, c.sku)
    _site(get, c.site)
    supplier = _site(get, c.supplier, "supplier")
    if supplier.kind != SiteKind.SUPPLIER.value:
        raise InvalidTransition(f"site {c.supplier!r} is a {supplier.kind}, not a supplier", field="supplier")
    return [
        (f"po:{c.po_id}", ev.PurchaseOrderPlaced(po_id=c.po_id, sku=c.sku, site=c.site, supplier=c.supplier,
                                                qty=c.qty, expected_at=c.expected_at)),
        (stock_stream(c.sku, c.site), ev.PurchaseOrderStockExpected(po_id=c.po_id, qty=c.qty)),
    ]


def _purchase_order(get: Getter, po_id: str) -> PurchaseOrderState:
    state = get(f"po:{po_id}")
    if not isinstance(state, PurchaseOrderState):
        raise UnknownEntity(f"unknown purchase order {po_id!r}", field="po_id")
    if state.open_qty == 0:
        raise InvalidTransition(f"purchase order {po_id!r} is already closed", field="po_id")
    return state


def _receive_po(c: cmd.ReceivePurchaseOrder, get: Getter) -> Decision:
    po = _purchase_order(get, c.po_id)
    if c.qty > po.open_qty:
        raise InvalidTransition(f"purchase order {c.po_id!r} has {po.open_qty} units open, {c.qty} received",
                                field="qty")
    return [
        (f"po:{c.po_id}", ev.PurchaseOrderReceived(qty=c.qty)),
        (stock_stream(po.sku, po.site),
         ev.PurchaseOrderStockReceived(po_id=c.po_id, qty=c.qty, lot=c.lot, expiry=c.expiry)),
    ]


def _expedite_po(c: cmd.ExpeditePurchaseOrder, get: Getter) -> Decision:
    _purchase_order(get, c.po_id)  # an open order: nothing to speed up once it is all in
    return [(f"po:{c.po_id}", ev.PurchaseOrderExpedited(mode=c.mode, expected_at=c.expected_at, reason=c.reason))]


def _cancel_po(c: cmd.CancelPurchaseOrder, get: Getter) -> Decision:
    po = _purchase_order(get, c.po_id)
    return [
        (f"po:{c.po_id}", ev.PurchaseOrderCancelled(qty=po.open_qty, reason=c.reason)),
        (stock_stream(po.sku, po.site), ev.PurchaseOrderStockCancelled(po_id=c.po_id, qty=po.open_qty)),
    ]


def _quarantine(c: cmd.QuarantineStock, get: Getter) -> Decision:
    stock, site = _take(get, c.sku, c.site, c.qty)
    lots = _allocate_lots(stock, c.qty, c.lot, what="on hand", allow_short=_allows_negative(site))
    stream = stock_stream(c.sku, c.site)
    return _flag_if_negative([(stream, ev.StockQuarantined(qty=c.qty, lots=lots, reason=c.reason))], stream,
                             stock, "QuarantineStock", site)


def _release_quarantine(c: cmd.ReleaseQuarantine, get: Getter) -> Decision:
    _sku(get, c.sku)
    _site(get, c.site)
    stock = _stock(get, c.sku, c.site)
    if c.qty > stock.quarantined:
        raise InsufficientStock(f"{c.sku} at {c.site}: {stock.quarantined} quarantined, {c.qty} asked",
                                field="qty")
    lots = _allocate_lots(stock, c.qty, c.lot, what="in quarantine", quarantined=True)
    return [(stock_stream(c.sku, c.site), ev.QuarantineReleased(qty=c.qty, lots=lots))]


def _expire(c: cmd.ExpireLot, get: Getter) -> Decision:
    _sku(get, c.sku)
    _site(get, c.site)
    stock = _stock(get, c.sku, c.site)
    entry = stock.lots.get(c.lot)
    if entry is None:
        raise UnknownEntity(f"{c.sku} at {c.site} holds nothing of lot {c.lot!r}", field="lot")
    stream = stock_stream(c.sku, c.site)
    decision: Decision = [(stream, ev.LotExpired(lot=c.lot, on_hand=int(entry[0]),  # type: ignore[call-overload]
                                                 quarantined=int(entry[1])))]  # type: ignore[call-overload]
    return _flag_if_negative(decision, stream, stock, "ExpireLot")


def _backorder(c: cmd.RecordBackorder, get: Getter) -> Decision:
    _sku(get, c.sku)
    _site(get, c.site)
    return [(stock_stream(c.sku, c.site), ev.BackorderRecorded(qty=c.qty))]


def _fill_backorder(c: cmd.FillBackorder, get: Getter) -> Decision:
    stock, site = _take(get, c.sku, c.site, c.qty)
    if c.qty > stock.backordered:
        raise InvalidTransition(f"{c.sku} at {c.site}: {stock.backordered} backordered, {c.qty} asked",
                                field="qty")
    lots = _allocate_lots(stock, c.qty, None, what="on hand", allow_short=_allows_negative(site))
    stream = stock_stream(c.sku, c.site)
    return _flag_if_negative([(stream, ev.BackorderFilled(qty=c.qty, lots=lots))], stream, stock, "FillBackorder",
                             site)


def _record_sales(c: cmd.RecordSales, get: Getter) -> Decision:
    site = _site(get, c.site)
    allow = _allows_negative(site)
    # A batch may sell one SKU on several lines: later lines see what earlier ones took. Positions
    # without lots (the common case) only need the units taken so far; lotted ones are folded.
    taken: dict[str, int] = {}
    folded: dict[str, StockState] = {}
    decision: Decision = []
    for i, (sku, qty) in enumerate(c.lines):
        if not isinstance(get(f"sku:{sku}"), SkuState):
            raise UnknownEntity(f"unknown SKU {sku!r}", field=f"lines[{i}].sku")
        stream = stock_stream(sku, c.site)
        stock = folded.get(stream) or _stock(get, sku, c.site)
        available = stock.available - (0 if stream in folded else taken.get(stream, 0))
        if qty > available and not allow:
            raise InsufficientStock(f"{sku} at {c.site}: {available} available, {qty} asked",
                                    field=f"lines[{i}].qty")
        if stock.lots or (allow and qty > available):
            if stream not in folded and stream in taken:
                stock = evolve(stream, stock, ev.StockShipped(qty=taken[stream]))  # type: ignore[assignment]
            lots = _allocate_lots(stock, qty, None, what="on hand", allow_short=allow)
            event = ev.StockShipped(qty=qty, lots=lots)
            after = evolve(stream, stock, event)
            assert isinstance(after, StockState)
            folded[stream] = after
            decision.append((stream, event))
            if after.available < 0 and not after.flagged:
                flag = ev.PositionFlagged(available=after.available, cause="RecordSales")
                decision.append((stream, flag))
                folded[stream] = evolve(stream, after, flag)  # type: ignore[assignment]
            continue
        taken[stream] = taken.get(stream, 0) + qty
        decision.append((stream, ev.StockShipped(qty=qty, lots=None)))
    return decision


CommandT = TypeVar("CommandT", bound=cmd.Command)
# A handler as the table keeps it: ``_handler`` has checked that it takes the command class it is
# registered under, and ``decide`` only ever calls it with a command of that class.
_AnyHandler = Callable[[Any, Getter], Decision]


def _handler(kind: type[CommandT], handler: Callable[[CommandT, Getter], Decision]) -> tuple[type[cmd.Command],
                                                                                            _AnyHandler]:
    """One entry of ``_HANDLERS``: mypy checks that ``handler`` takes a ``kind``."""
    return kind, handler


_HANDLERS: dict[type[cmd.Command], _AnyHandler] = dict([
    _handler(cmd.RegisterSku, _register_sku),
    _handler(cmd.RegisterSite, _register_site),
    _handler(cmd.ReceiveStock, _receive),
    _handler(cmd.ShipStock, _ship),
    _handler(cmd.AdjustStock, _adjust),
    _handler(cmd.RecordCount, _count),
    _handler(cmd.ReserveStock, _reserve),
    _handler(cmd.ReleaseReservation, _release),
    _handler(cmd.FulfilReservation, _fulfil),
    _handler(cmd.DispatchTransfer, _dispatch),
    _handler(cmd.ReceiveTransfer, _receive_transfer),
    _handler(cmd.DeclareTransferLoss, _lose_transfer),
    _handler(cmd.PlacePurchaseOrder, _place_po),
    _handler(cmd.ReceivePurchaseOrder, _receive_po),
    _handler(cmd.CancelPurchaseOrder, _cancel_po),
    _handler(cmd.ExpeditePurchaseOrder, _expedite_po),
    _handler(cmd.QuarantineStock, _quarantine),
    _handler(cmd.ReleaseQuarantine, _release_quarantine),
    _handler(cmd.ExpireLot, _expire),
    _handler(cmd.RecordBackorder, _backorder),
    _handler(cmd.FillBackorder, _fill_backorder),
    _handler(cmd.RecordSales, _record_sales),
])
