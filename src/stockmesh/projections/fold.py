"""The read models as folds of events, over a batch at a time.

``ViewFolder`` reads the current rows a batch touches, folds the batch in with the domain's own
``evolve`` (a read model must agree with the ledger by construction), and returns the changed rows.
The runner saves the rows and the checkpoint in one transaction, so a fold is applied exactly once.

Balances as of a business time come from *snapshots* of each stock stream, taken every
``snapshot_every`` events. A snapshot S stamped (T, position P) holds the stream's events up to P,
plus every later-arriving event with a business time before T. A back-dated event (business time
t, arriving late) re-folds only its own stream from the nearest snapshot: the snapshots stamped
after t move by the event's effect (quantities fold additively); nothing else is touched and the
ledger is not re-read. An as-of query for time A starts from the nearest snapshot at or before A
and folds the stream's events after P whose business time lies in [T, A].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
SNAPSHOT_EVERY = 64
ZERO = (0, 0, 0, 0, 0, 0)


def quantities(state: StockState) -> tuple[int, ...]:
    return (state.on_hand, state.reserved, state.in_transit, state.on_order, state.backordered, state.quarantined)


def effect(stream_id: str, event: Event) -> tuple[int, ...]:
    """What one event adds to each quantity of its stock stream."""
    after = evolve(stream_id, StockState(), event)
    assert isinstance(after, StockState)
    return quantities(after)


def add(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


class _StockRow:
    """Mutable fold state of one stock position for the length of a batch."""

    __slots__ = ("state", "last_time", "since_snapshot", "last_snapshot_at", "old_lots")

    def __init__(self, state: StockState, last_time: str | None, since: int, last_snapshot_at: str | None,
                 old_lots: Iterable[str]) -> None:
        self.state = state
        self.last_time = last_time
        self.since_snapshot = since
        self.last_snapshot_at = last_snapshot_at
        self.old_lots = set(old_lots)


class ViewFolder:
    def __init__(self, store: EventStore, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.store = store
        self.snapshot_every = snapshot_every

    def fold(self, events: Sequence[RecordedEvent]) -> Changes:
        changes: Changes = {"stock_positions": {}, "lot_positions": {}, "documents": {}, "stock_snapshots": {}}
        snapshots = changes["stock_snapshots"]
        stock_keys = {parse_stock_stream(e.stream_id) for e in events if e.stream_id.startswith("stock:")}
        doc_keys = {(e.stream_id,) for e in events if stream_kind(e.stream_id) in DOCUMENT_KINDS}
        stocks: dict[Key, _StockRow] = {}
        for key, row in self.store.load_view_rows("stock_positions", stock_keys).items():
            lots = codec.loads(row[8]) if row[8] else {}
            stocks[key] = _StockRow(StockState(*row[:6], flagged=bool(row[6]), lots=lots), row[7], row[9] or 0,
                                    row[10], lots)
        doc_rows = self.store.load_view_rows("documents", doc_keys)
        docs: dict[Key, State] = {k: codec.decode_state(k[0], row[-1]) for k, row in doc_rows.items()}
        opened: dict[Key, str | None] = {k: row[8] for k, row in doc_rows.items()}
        decode = codec.decode_event
        every = self.snapshot_every
        staged_by_stream: dict[str, set[Key]] = {}

        for e in events:
            stream_id = e.stream_id
            if stream_id.startswith("stock:"):
                event = decode(e.type, e.schema_version, e.data)
                key = parse_stock_stream(stream_id)
                row = stocks.get(key)
                if row is None:
                    row = stocks[key] = _StockRow(StockState(), None, 0, None, ())
                state = evolve(stream_id, row.state, event)
                assert isinstance(state, StockState)
                row.state = state
                occurred_at = e.occurred_at
                if row.last_snapshot_at is not None and occurred_at < row.last_snapshot_at:
                    self._shift_snapshots(snapshots, staged_by_stream.setdefault(stream_id, set()), stream_id,
                                          occurred_at, effect(stream_id, event))
                if row.last_time is None or occurred_at > row.last_time:
                    row.last_time = occurred_at
                row.since_snapshot += 1
                if row.since_snapshot >= every:
                    snapshot_key = (stream_id, row.last_time, e.position)
                    snapshots[snapshot_key] = quantities(state)
                    staged_by_stream.setdefault(stream_id, set()).add(snapshot_key)
                    row.since_snapshot = 0
                    row.last_snapshot_at = row.last_time
            elif stream_kind(stream_id) in DOCUMENT_KINDS:
                event = decode(e.type, e.schema_version, e.data)
                key = (stream_id,)
                if key not in docs:
                    opened[key] = e.occurred_at
                docs[key] = evolve(stream_id, docs.get(key), event)

        for key, row in stocks.items():
            sku, site = key
            lots = row.state.lots
            changes["stock_positions"][key] = quantities(row.state) + (
                int(row.state.flagged), row.last_time, codec.dumps(lots) if lots else None, row.since_snapshot,
                row.last_snapshot_at)
            for lot, (on_hand, quarantined, expiry) in lots.items():
                changes["lot_positions"][(sku, site, lot)] = (on_hand, quarantined, expiry)
            for lot in row.old_lots - set(lots):
                changes["lot_positions"][(sku, site, lot)] = None
        for key, doc in docs.items():
            changes["documents"][key] = document_row(key[0], doc, opened.get(key))
        return changes

    def _shift_snapshots(self, staged: dict[Key, Row | None], own: set[Key], stream_id: str, occurred_at: str,
                         delta: tuple[int, ...]) -> None:
        """Re-fold from the nearest snapshot: every snapshot stamped after ``occurred_at`` takes the event in."""
        stored = self.store.load_view("stock_snapshots", {"stream_id": stream_id}, after=("occurred_at", occurred_at))
        for r in stored:
            if r[:3] not in staged:
                staged[r[:3]] = r[3:]
                own.add(r[:3])
        for key in own:
            values = staged[key]
            if key[1] > occurred_at and values is not None:
                staged[key] = add(values, delta)


def as_of(store: EventStore, stream_id: str, moment: str) -> tuple[int, ...] | None:
    """Quantities of one stock stream at business time ``moment`` (None when nothing had happened)."""
    snaps = store.load_view("stock_snapshots", {"stream_id": stream_id}, until=("occurred_at", moment))
    base, base_time, base_position = ZERO, "", 0
    if snaps:
        best = max(snaps, key=lambda r: (r[1], r[2]))
        base, base_time, base_position = tuple(best[3:]), best[1], best[2]
    total, seen = base, bool(snaps)
    for e in store.read_stream(stream_id):
        if e.position > base_position and base_time <= e.occurred_at <= moment:
            total = add(total, effect(stream_id, codec.decode_event(e.type, e.schema_version, e.data)))
            seen = True
    return total if seen else None


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
