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
from dataclasses import fields
from typing import Any

import orjson

from stockmesh.domain.events import Event
from stockmesh.domain.evolve import STOCK_EVENT_TYPES, evolve, stream_kind
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


Linear = tuple[int, str, str | None, int, int, tuple[tuple[int, int], ...]]


def _linear_effects() -> dict[str, Linear]:
    """For each stock event type whose effect is a fixed multiple of one field when it names no lot:
    (schema version, that field, the field naming its lot or lots (None if it has none), the index
    and coefficient of the first quantity it moves, the (index, coefficient) pairs of the others).

    Derived from ``evolve`` itself, by folding one unit into an empty position, so the fast fold
    below cannot disagree with the domain: it is the same function, evaluated once per type."""
    out: dict[str, Linear] = {}
    for cls in STOCK_EVENT_TYPES:
        names = [f.name for f in fields(cls)]
        amount = next((n for n in ("qty", "delta", "variance") if n in names), None)
        if amount is None:
            continue
        probe = {n: None for n in names}
        unit = effect("stock:probe@probe", cls(**{**probe, amount: 1}))
        double = effect("stock:probe@probe", cls(**{**probe, amount: 2}))
        if any(d != 2 * u for u, d in zip(unit, double, strict=True)) or not any(unit):
            continue  # not linear in its amount: always take the general path
        pairs = tuple((i, c) for i, c in enumerate(unit) if c)
        lot_field = "lot" if "lot" in names else "lots" if "lots" in names else None
        out[cls.type] = (cls.schema_version, amount, lot_field, pairs[0][0], pairs[0][1], pairs[1:])
    return out


LINEAR_EFFECTS = _linear_effects()
FoldRow = tuple[int, str, str, int, str, str]
"""What a fold reads of one event: (position, stream_id, type, schema_version, data, occurred_at)."""


def fold_rows(events: Iterable[RecordedEvent]) -> list[FoldRow]:
    return [(e.position, e.stream_id, e.type, e.schema_version, e.data, e.occurred_at) for e in events]


class _StockRow:
    """Mutable fold state of one stock position for the length of a batch."""

    __slots__ = ("q", "flagged", "lots", "last_time", "since_snapshot", "last_snapshot_at", "old_lots")

    def __init__(self, q: list[int], flagged: bool, lots: dict[str, list[object]], last_time: str | None,
                 since: int, last_snapshot_at: str | None) -> None:
        self.q = q
        self.flagged = flagged
        self.lots = lots
        self.last_time = last_time
        self.since_snapshot = since
        self.last_snapshot_at = last_snapshot_at
        self.old_lots = set(lots)

    def state(self) -> StockState:
        return StockState(*self.q, flagged=self.flagged, lots=self.lots)


class ViewFolder:
    """Folds batches of events into read-model rows; see the module docstring.

    Between batches of one run (``catch_up``) it keeps the stock rows it folded, so the next batch
    does not read back what this one just wrote: after ``saved(position)`` they are known to be the
    stored rows as of that position, and a batch that starts right after it uses them. When the fold
    started from position 1 (a replay), every stored stock row is one of them, so streams it has not
    seen have no row yet and nothing is read at all."""

    KEEP_LIMIT = 500_000  # stock rows kept between batches, at most

    def __init__(self, store: EventStore, snapshot_every: int = SNAPSHOT_EVERY, *, fresh: bool = False) -> None:
        self.store = store
        self.snapshot_every = snapshot_every
        # fresh: the read models started empty and only this folder writes the rows of the streams
        # it is given (one partition of a parallel replay), so batches need not be contiguous
        self.fresh = fresh
        self._known: dict[str, _StockRow] = {}
        self._known_at: int | None = None  # the position the kept rows are stored as of
        self._complete = False  # the kept rows are every stock row there is
        self._pending_at: int | None = None
        self._unsaved: set[str] = set()  # fresh folders: stock rows folded but not yet handed out

    def saved(self, position: int) -> None:
        """The changes of the last fold, up to ``position``, are stored: its rows may be kept."""
        if self._pending_at == position:
            self._known_at = position
        self._pending_at = None

    def fold(self, rows: Sequence[FoldRow]) -> Changes:
        """Fold a batch of events (in position order) into the rows of the read models it changes.

        Stock events without lots whose effect is linear in one amount (receipts, sales, reserves,
        transfers: nearly all of a ledger) add their amount to counters directly; every other
        stock event goes through ``evolve``. Both give the same numbers by construction."""
        changes: Changes = {"stock_positions": {}, "lot_positions": {}, "documents": {}, "stock_snapshots": {}}
        if not rows:
            return changes
        snapshots = changes["stock_snapshots"]
        first = rows[0][0]
        if first == 1 or (self.fresh and self._known_at is None and not self._known):
            self._known, self._complete = {}, True
        elif (self._known_at is None or len(self._known) > self.KEEP_LIMIT
              or (not self.fresh and self._known_at != first - 1)):
            self._known, self._complete = {}, False
        self._known_at, self._pending_at = None, rows[-1][0]  # kept rows change from here on
        known = self._known
        streams = {r[1] for r in rows}
        keys_of = {sid: parse_stock_stream(sid) for sid in streams if sid.startswith("stock:")}
        doc_streams = {sid for sid in streams if stream_kind(sid) in DOCUMENT_KINDS}
        doc_keys = {(sid,) for sid in doc_streams}
        by_stream: dict[str, _StockRow] = {sid: known[sid] for sid in keys_of if sid in known}
        missing = [sid for sid in keys_of if sid not in by_stream]
        loaded = ({} if self._complete or not missing
                  else self.store.load_view_rows("stock_positions", [keys_of[sid] for sid in missing]))
        for sid in missing:
            row = loaded.get(keys_of[sid])
            if row is None:
                by_stream[sid] = _StockRow([0, 0, 0, 0, 0, 0], False, {}, None, 0, None)
            else:
                lots = codec.loads(row[8]) if row[8] else {}
                by_stream[sid] = _StockRow(list(row[:6]), bool(row[6]), lots, row[7], row[9] or 0, row[10])
        known.update(by_stream)
        doc_rows = self.store.load_view_rows("documents", doc_keys)
        docs: dict[Key, State] = {k: codec.decode_state(k[0], row[-1]) for k, row in doc_rows.items()}
        opened: dict[Key, str | None] = {k: row[8] for k, row in doc_rows.items()}
        decode = codec.decode_event
        loads = orjson.loads
        linear = LINEAR_EFFECTS
        every = self.snapshot_every
        staged_by_stream: dict[str, set[Key]] = {}

        for position, stream_id, type_name, schema_version, data, occurred_at in rows:
            row = by_stream.get(stream_id)
            if row is not None:
                fast = linear.get(type_name)
                if fast is not None and fast[0] == schema_version:
                    payload = loads(data)
                    lot_field = fast[2]
                    if lot_field is not None:
                        named = payload.get(lot_field)
                        if named is not None and (named or lot_field == "lot"):
                            fast = None  # a lot to track: the general path
                else:
                    fast = None
                delta: tuple[int, ...] | None = None
                if fast is not None:
                    amount = payload[fast[1]]
                    q = row.q
                    q[fast[3]] += fast[4] * amount
                    for index, coefficient in fast[5]:
                        q[index] += coefficient * amount
                    if row.last_snapshot_at is not None and occurred_at < row.last_snapshot_at:
                        vector = [0, 0, 0, 0, 0, 0]
                        vector[fast[3]] = fast[4] * amount
                        for index, coefficient in fast[5]:
                            vector[index] = coefficient * amount
                        delta = tuple(vector)
                else:
                    event = decode(type_name, schema_version, data)
                    state = evolve(stream_id, row.state(), event)
                    assert isinstance(state, StockState)
                    row.q = list(quantities(state))
                    row.flagged, row.lots = state.flagged, state.lots
                    if row.last_snapshot_at is not None and occurred_at < row.last_snapshot_at:
                        delta = effect(stream_id, event)
                if delta is not None:
                    self._shift_snapshots(snapshots, staged_by_stream.setdefault(stream_id, set()), stream_id,
                                          occurred_at, delta)
                if row.last_time is None or occurred_at > row.last_time:
                    row.last_time = occurred_at
                row.since_snapshot += 1
                if row.since_snapshot >= every:
                    snapshot_key = (stream_id, row.last_time, position)
                    snapshots[snapshot_key] = tuple(row.q)
                    staged_by_stream.setdefault(stream_id, set()).add(snapshot_key)
                    row.since_snapshot = 0
                    row.last_snapshot_at = row.last_time
            elif stream_id in doc_streams:
                event = decode(type_name, schema_version, data)
                key = (stream_id,)
                if key not in docs:
                    opened[key] = occurred_at
                docs[key] = evolve(stream_id, docs.get(key), event)

        if self.fresh and self._complete:
            # Nobody reads these rows before the swap: write each stock row once, at flush().
            self._unsaved.update(by_stream)
            if len(self._known) > self.KEEP_LIMIT:
                self._emit_stock_rows(changes, {sid: self._known[sid] for sid in self._unsaved}, keys_of)
                self._unsaved.clear()
        else:
            self._emit_stock_rows(changes, by_stream, keys_of)
        for key, doc in docs.items():
            changes["documents"][key] = document_row(key[0], doc, opened.get(key))
        return changes

    def flush(self) -> Changes:
        """The stock rows a fresh folder has not handed out yet (see ``fold``); save them last."""
        changes: Changes = {"stock_positions": {}, "lot_positions": {}}
        self._emit_stock_rows(changes, {sid: self._known[sid] for sid in self._unsaved}, {})
        self._unsaved.clear()
        return changes

    @staticmethod
    def _emit_stock_rows(changes: Changes, rows: dict[str, _StockRow], keys_of: dict[str, Key]) -> None:
        positions, lot_rows = changes["stock_positions"], changes["lot_positions"]
        for sid, row in rows.items():
            key = keys_of.get(sid) or parse_stock_stream(sid)
            sku, site = key
            lots = row.lots
            positions[key] = tuple(row.q) + (
                int(row.flagged), row.last_time, codec.dumps(lots) if lots else None, row.since_snapshot,
                row.last_snapshot_at)
            for lot, (on_hand, quarantined, expiry) in lots.items():
                lot_rows[(sku, site, lot)] = (on_hand, quarantined, expiry)
            if row.old_lots:
                for lot in row.old_lots - set(lots):
                    lot_rows[(sku, site, lot)] = None
            row.old_lots = set(lots)

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
