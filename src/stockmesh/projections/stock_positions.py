"""Queries over the read models, shaped for the CLI and the API."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from stockmesh.domain.commands import parse_instant
from stockmesh.domain.model import stock_stream
from stockmesh.ledger.port import EventStore
from stockmesh.projections.fold import as_of as fold_as_of

_QTY = ("on_hand", "reserved", "in_transit", "on_order", "backordered", "quarantined")


def _row(sku: str, site: str, q: tuple[int, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {"sku": sku, "site": site, **dict(zip(_QTY, q, strict=True))}
    row["available"] = row["on_hand"] - row["reserved"]
    row["inventory_position"] = (row["on_hand"] + row["in_transit"] + row["on_order"] - row["reserved"]
                                 - row["backordered"])
    return row


def positions(store: EventStore, *, sku: str | None = None, site: str | None = None,
              as_of: str | None = None, sites: Collection[str] | None = None, limit: int | None = None,
              offset: int = 0, after_key: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Stock per SKU x site, now or (``as_of``) at a business time, from the nearest snapshots.
    ``sites``: only these; ``limit``, ``offset``, ``after_key`` (sku, site): one page, read as such."""
    where = {k: v for k, v in (("sku", sku), ("site", site)) if v is not None}
    if as_of is None:
        out = []
        for r in store.load_view("stock_positions", where, any_of=None if sites is None else {"site": sites},
                                 limit=limit, offset=offset, after_key=after_key):
            row = _row(r[0], r[1], tuple(r[2:8]))
            row["flagged"] = bool(r[8])
            out.append(row)
        return out
    moment = parse_instant("as_of", as_of)
    out = []
    for r in store.load_view("stock_positions", where, any_of=None if sites is None else {"site": sites},
                             limit=limit, offset=offset, after_key=after_key):
        quantities = fold_as_of(store, stock_stream(r[0], r[1]), moment)
        if quantities is not None:
            out.append(_row(r[0], r[1], quantities))
    return out


def count_positions(store: EventStore, *, sku: str | None = None, site: str | None = None,
                    sites: Collection[str] | None = None) -> int:
    where = {k: v for k, v in (("sku", sku), ("site", site)) if v is not None}
    return store.count_view("stock_positions", where, any_of=None if sites is None else {"site": sites})
