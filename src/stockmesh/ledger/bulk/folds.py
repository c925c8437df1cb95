"""The commonest commands decided and folded in one pass, without event objects.

``decide`` builds event objects and ``evolve`` folds them; for a plain sale, shipment or receipt
the outcome is known from the quantity alone: one event of one type per line, and the position's
next state. ``service/execute.py`` tries ``fold_plain`` first and writes such events from
templates. Every other command, and every case here that returns None, goes through ``decide``,
which also raises the error of a command that breaks a rule. A test
(``test_execute_fast_paths.py``) checks that both paths write the same ledger.
"""

from __future__ import annotations

from stockmesh.domain import commands as cmd
from stockmesh.domain import events as ev
from stockmesh.domain.decide import Getter
from stockmesh.domain.model import SiteState, SkuState, StockState

SalesFold = list[tuple[str, int, StockState]]


def fold_plain_sales(c: cmd.RecordSales, get: Getter) -> SalesFold | None:
    """The common case of ``RecordSales`` decided and folded in one pass, without event objects.

    When every line sells a distinct, registered SKU from a position without lots, within its
    available stock, the decision is exactly one ``StockShipped(qty, lots=None)`` per line and
    each position's next state is its on hand less the line's qty. Returns ``(stream, qty, state
    after)`` per line in line order, or None when any line needs the general path (``decide``'s
    rule for ``RecordSales``), which also names the line that breaks a rule. A POS day of a store
    is thousands of lines: this is the twin's and the ingest's hottest loop."""
    site = get(f"site:{c.site}")
    if not isinstance(site, SiteState):
        return None
    out: SalesFold = []
    append = out.append
    suffix = "@" + c.site
    for sku, qty in c.lines:
        if type(get("sku:" + sku)) is not SkuState:
            return None
        stream = "stock:" + sku + suffix
        s = get(stream)
        if type(s) is not StockState or s.lots or qty > s.on_hand - s.reserved:
            return None
        append((stream, qty, StockState(s.on_hand - qty, s.reserved, s.in_transit, s.on_order, s.backordered,
                                        s.quarantined, s.flagged, s.lots)))
    if len({line[0] for line in out}) != len(out):
        return None  # one SKU on several lines: later lines must see what earlier ones took
    return out


def _fold_plain_ship(c: cmd.ShipStock, get: Getter) -> SalesFold | None:
    """``ShipStock`` without a lot from a registered position without lots, within its available
    stock: exactly one ``StockShipped(qty, lots=None)`` (as ``decide`` rules: no lot to allocate, nothing goes
    negative so nothing is flagged, whatever the site's policy)."""
    if c.lot is not None or type(get("site:" + c.site)) is not SiteState or type(get("sku:" + c.sku)) is not SkuState:
        return None
    stream = "stock:" + c.sku + "@" + c.site
    s = get(stream)
    if type(s) is not StockState or s.lots or c.qty > s.on_hand - s.reserved:
        return None
    return [(stream, c.qty, StockState(s.on_hand - c.qty, s.reserved, s.in_transit, s.on_order, s.backordered,
                                       s.quarantined, s.flagged, s.lots))]


def _fold_plain_receive(c: cmd.ReceiveStock, get: Getter) -> SalesFold | None:
    """``ReceiveStock`` without a lot of a registered SKU at a registered site: exactly one
    ``StockReceived(qty)`` (as ``decide`` rules), which adds ``qty`` on hand and leaves the lots as they are."""
    if c.lot is not None or c.expiry is not None or type(get("site:" + c.site)) is not SiteState \
            or type(get("sku:" + c.sku)) is not SkuState:
        return None
    stream = "stock:" + c.sku + "@" + c.site
    s = get(stream)
    if s is None:
        return [(stream, c.qty, StockState(on_hand=c.qty))]
    if type(s) is not StockState:
        return None
    return [(stream, c.qty, StockState(s.on_hand + c.qty, s.reserved, s.in_transit, s.on_order, s.backordered,
                                       s.quarantined, s.flagged, s.lots))]


def fold_plain(c: cmd.Command, get: Getter) -> tuple[type[ev.Event], SalesFold] | None:
    """The commonest commands decided and folded in one pass, without event objects: plain sales
    (``fold_plain_sales``), a plain ``ShipStock`` and a plain ``ReceiveStock``. Returns the one event
    type they write and ``(stream, qty, state after)`` per event, or None when the command needs the
    general path (``decide``), which also raises the error of a command that breaks a rule. The
    bulk of every ingest and of every simulated day goes this way; a test checks both paths write
    the same ledger."""
    if type(c) is cmd.ShipStock:
        out = _fold_plain_ship(c, get)
        return None if out is None else (ev.StockShipped, out)
    if type(c) is cmd.ReceiveStock:
        out = _fold_plain_receive(c, get)
        return None if out is None else (ev.StockReceived, out)
    if type(c) is cmd.RecordSales:
        out = fold_plain_sales(c, get)
        return None if out is None else (ev.StockShipped, out)
    return None


