"""The tables of the read models: their keys and columns. The folds that fill them live in
``stockmesh.projections``; the backends only need the shapes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    integer: frozenset[str] = frozenset()

    @property
    def all_columns(self) -> tuple[str, ...]:
        return self.key + self.columns


_QTY = ("on_hand", "reserved", "in_transit", "on_order", "backordered", "quarantined")

VIEWS: dict[str, ViewSpec] = {
    v.name: v
    for v in (
        ViewSpec("stock_positions", ("sku", "site"),
                 _QTY + ("flagged", "last_occurred_at", "lots", "since_snapshot", "last_snapshot_at"),
                 frozenset(_QTY + ("flagged", "since_snapshot"))),
        ViewSpec("lot_positions", ("sku", "site", "lot"), ("on_hand", "quarantined", "expiry"),
                 frozenset({"on_hand", "quarantined"})),
        ViewSpec("documents", ("doc_id",),
                 ("kind", "sku", "site", "counterparty", "qty", "done", "status", "expected_at", "opened_at", "state"),
                 frozenset({"qty", "done"})),
        # Balances of a stock stream as of a business time, every few events: see projections.fold.
        ViewSpec("stock_snapshots", ("stream_id", "occurred_at", "position"), _QTY,
                 frozenset(_QTY + ("position",))),
    )
}
