"""The read models as folds of events, over a batch at a time.

``ViewFolder`` reads the current rows a batch touches, folds the batch in with the domain's own
``evolve`` (a read model must agree with the ledger by construction), and returns the changed rows.
The runner saves the rows and the checkpoint in one transaction, so a fold is applied exactly once.

Balance history keeps, per stock stream, one row per event in *business-time* order with the
balances after it. A back-dated event (earlier ``occurred_at`` than the stream's latest) re-folds
only its own stream, from the nearest snapshot: the last row at or before its business time. The
quantities fold additively, so every later row of that stream moves by the event's effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stockmesh.domain.events import Event
from stockmesh.domain.evolve import evolve, stream_kind
from stockmesh.domain.model import (
    PurchaseOrderState,
    ReservationState,
    State,
    StockState,
    TransferState,
    parse_stock_stream,
)
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import RecordedEvent

Row = tuple[Any, ...]
Key = tuple[Any, ...]
Changes = dict[str, dict[Key, Row | None]]
DOCUMENT_KINDS = ("po", "transfer", "reservation")


def quantities(state: StockState) -> tuple[int, ...]:
    return (state.on_hand, state.reserved, state.in_transit, state.on_order, state.backordered, state.quarantined)


def _effect(stream_id: str, event: Event) -> tuple[int, ...]:
    after = evolve(stream_id, StockState(), event)
    assert isinstance(after, StockState)
    return quantities(after)


def _add(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


class ViewFolder:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def fold(self, events: Sequence[RecordedEvent]) -> Changes:
        changes: Changes = {"stock_positions": {}, "lot_positions": {}, "documents": {}, "balance_history": {}}
        stock_keys = {parse_stock_stream(e.stream_id) for e in events if e.stream_id.startswith("stock:")}
        doc_keys = {(e.stream_id,) for e in events if stream_kind(e.stream_id) in DOCUMENT_KINDS}
        stock_rows = self.store.load_view_rows("stock_positions", stock_keys)
        stocks: dict[Key, StockState] = {}
        last_time: dict[Key, str | None] = {}
        old_lots: dict[Key, set[str]] = {}
        for key, row in stock_rows.items():
            lots = codec.loads(row[8]) if row[8] else {}
            stocks[key] = StockState(*row[:6], flagged=bool(row[6]), lots=lots)
            last_time[key] = row[7]
            old_lots[key] = set(lots)
        doc_rows = self.store.load_view_rows("documents", doc_keys)
        docs: dict[Key, State] = {k: codec.decode_state(k[0], row[-1]) for k, row in doc_rows.items()}
        opened: dict[Key, str | None] = {k: row[8] for k, row in doc_rows.items()}

        for e in events:
            kind = stream_kind(e.stream_id)
            if kind == "stock":
                event = codec.decode_event(e.type, e.schema_version, e.data)
                key = parse_stock_stream(e.stream_id)
                state = evolve(e.stream_id, stocks.get(key), event)
                assert isinstance(state, StockState)
                stocks[key] = state
                latest = last_time.get(key)
                self._history(changes["balance_history"], e, event, state, latest)
                if latest is None or e.occurred_at > latest:
                    last_time[key] = e.occurred_at
            elif kind in DOCUMENT_KINDS:
                event = codec.decode_event(e.type, e.schema_version, e.data)
                key = (e.stream_id,)
                if key not in docs:
                    opened[key] = e.occurred_at
                docs[key] = evolve(e.stream_id, docs.get(key), event)

        for key, state in stocks.items():
            sku, site = key
            changes["stock_positions"][key] = quantities(state) + (
                int(state.flagged), last_time.get(key), codec.dumps(state.lots) if state.lots else None)
            for lot, (on_hand, quarantined, expiry) in state.lots.items():
                changes["lot_positions"][(sku, site, lot)] = (on_hand, quarantined, expiry)
            for lot in old_lots.get(key, set()) - set(state.lots):
                changes["lot_positions"][(sku, site, lot)] = None
        for key, doc in docs.items():
            changes["documents"][key] = document_row(key[0], doc, opened.get(key))
        return changes

    def _history(self, table: dict[Key, Row | None], e: RecordedEvent, event: Event, after: StockState,
                 latest: str | None) -> None:
        if latest is None or e.occurred_at >= latest:
            table[(e.stream_id, e.occurred_at, e.position)] = quantities(after)
            return
        effect = _effect(e.stream_id, event)
        # Rows of this stream, stored or staged in this batch, split at the event's business time.
        rows: dict[Key, Row] = {r[:3]: r[3:] for r in self.store.load_view(
            "balance_history", {"stream_id": e.stream_id}, after=("occurred_at", e.occurred_at))}
        snapshot_rows: dict[Key, Row] = {r[:3]: r[3:] for r in self.store.load_view(
            "balance_history", {"stream_id": e.stream_id}, until=("occurred_at", e.occurred_at))}
        for key, value in table.items():
            if key[0] == e.stream_id and value is not None:
                (rows if key[1] > e.occurred_at else snapshot_rows)[key] = value
        snapshot = snapshot_rows[max(snapshot_rows, key=lambda k: (k[1], k[2]))] if snapshot_rows else (0,) * 6
        table[(e.stream_id, e.occurred_at, e.position)] = _add(snapshot, effect)
        for key, values in rows.items():
            table[key] = _add(values, effect)


def document_row(stream_id: str, doc: State, opened_at: str | None) -> Row:
    kind = stream_kind(stream_id)
    if isinstance(doc, PurchaseOrderState):
        site, counterparty, expected = doc.site, doc.supplier, doc.expected_at
    elif isinstance(doc, TransferState):
        site, counterparty, expected = doc.to_site, doc.from_site, None
    else:
        assert isinstance(doc, ReservationState)
        site, counterparty, expected = doc.site, None, None
    status = "open" if doc.open_qty > 0 else "closed"
    return (kind, doc.sku, site, counterparty, doc.qty, doc.qty - doc.open_qty, status, expected, opened_at,
            codec.encode_state(doc))
