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
from dataclasses import fields, replace
from typing import Any, get_type_hints

import orjson

from stockmesh.domain.events import EVENT_TYPES, Event
from stockmesh.domain.evolve import STATE_TYPES, STOCK_EVENT_TYPES, evolve, stream_kind
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

DocumentOpener = tuple[int, str, type[Any], frozenset[str]]
"""(schema version, stream kind, state class, event fields) of an event opening a document."""
DocumentCounter = tuple[int, type[Any], str, str, int]
"""(schema version, state class, amount field, state field, coefficient) of an event counting on one."""


def _evolve_or_none(stream_id: str, state: State | None, event: Event) -> State | None:
    try:
        return evolve(stream_id, state, event)
    except Exception:  # a probe the event does not apply to (another kind, a document not open yet)
        return None


def _state_from(cls: type[Any], payload: dict[str, Any]) -> State | None:
    try:
        state: State = cls(**payload)
        return state
    except TypeError:  # the payload has a field the state has not
        return None


def _only_one(found: dict[str, list[Any]]) -> dict[str, Any]:
    return {name: entries[0] for name, entries in found.items() if len(entries) == 1}


def _document_openers() -> dict[str, DocumentOpener]:
    """The events after which a document's state is ``StateClass(**payload)``, whatever came
    before (each event field copied into the state field of its name, the others at their
    defaults). Derived from ``evolve`` like ``_linear_effects``: the formula must give evolve's
    state for distinct values in every field (so each is copied from its namesake), for None in
    every field, and over a document already open."""
    found: dict[str, list[DocumentOpener]] = {}
    for kind in DOCUMENT_KINDS:
        stream_id, cls = f"{kind}:probe", STATE_TYPES[kind]
        for event_cls in EVENT_TYPES.values():
            names = [f.name for f in fields(event_cls)]
            payloads = [{n: f"probe-{k}-{n}" for n in names} for k in (1, 2)] + [dict.fromkeys(names)]
            state: State | None = None
            for payload in payloads:  # the second and third over the state the first left
                expected = _state_from(cls, payload)
                state = _evolve_or_none(stream_id, state, event_cls(**payload))
                if expected is None or state != expected:
                    break
            else:
                found.setdefault(event_cls.type, []).append((event_cls.schema_version, kind, cls, frozenset(names)))
    return _only_one(found)


def _document_counters() -> dict[str, DocumentCounter]:
    """The events that add a fixed multiple of their ``qty`` to one integer field of an open
    document's state and change nothing else, whatever their other fields hold. Derived from
    ``evolve`` by applying each event, with amounts 1, 2 and -3, to an open document."""
    found: dict[str, list[DocumentCounter]] = {}
    for kind in DOCUMENT_KINDS:
        stream_id, cls = f"{kind}:probe", STATE_TYPES[kind]
        hints = get_type_hints(cls)
        base = cls(**{n: 1000 + i if hints[n] is int else f"probe-{n}" for i, n in enumerate(hints)})
        for event_cls in EVENT_TYPES.values():
            names = [f.name for f in fields(event_cls)]
            if "qty" not in names:
                continue
            unit = _evolve_or_none(stream_id, base, event_cls(**{**dict.fromkeys(names), "qty": 1}))
            if unit is None or type(unit) is not cls:
                continue
            moved = [n for n in hints if getattr(unit, n) != getattr(base, n)]
            if len(moved) != 1 or hints[moved[0]] is not int:
                continue
            field = moved[0]
            coefficient = getattr(unit, field) - getattr(base, field)
            if all(_evolve_or_none(stream_id, base, event_cls(**{n: amount if n == "qty" else other for n in names}))
                   == replace(base, **{field: getattr(base, field) + coefficient * amount})
                   for amount in (1, 2, -3) for other in (None, "probe")):
                found.setdefault(event_cls.type, []).append((event_cls.schema_version, cls, "qty", field, coefficient))
    return _only_one(found)


DOCUMENT_OPENERS = _document_openers()
DOCUMENT_COUNTERS = _document_counters()
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
    DOCS_LIMIT = 1_000_000  # ids of the documents written so far, kept at most (~100 MB)

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
        # When the fold started from empty read models: every document row stored so far is one
        # this folder wrote, so a document not among them has no row to read (None: not known).
        self._docs_written: set[str] | None = None
        self._docs_pending: set[str] = set()

    def saved(self, position: int) -> None:
        """The changes of the last fold, up to ``position``, are stored: its rows may be kept."""
        if self._pending_at == position:
            self._known_at = position
            if self._docs_written is not None:
                self._docs_written.update(self._docs_pending)
                if len(self._docs_written) > self.DOCS_LIMIT:
                    self._docs_written = None  # too many to keep: read them back instead
        self._pending_at = None
        self._docs_pending = set()

    def fold(self, rows: Sequence[FoldRow]) -> Changes:
        """Fold a batch of events (in position order) into the rows of the read models it changes.

        Stock events without lots whose effect is linear in one amount (receipts, sales, reserves,
        transfers: nearly all of a ledger) add their amount to counters directly; the events that
        open a document or count on one (``DOCUMENT_OPENERS``, ``DOCUMENT_COUNTERS``) build or
        update its state directly; every other event goes through ``evolve``. Both give the same
        rows by construction."""
        changes: Changes = {"stock_positions": {}, "lot_positions": {}, "documents": {}, "stock_snapshots": {}}
        if not rows:
            return changes
        snapshots = changes["stock_snapshots"]
        first = rows[0][0]
        if first == 1 or (self.fresh and self._known_at is None and not self._known):
            self._known, self._complete, self._docs_written = {}, True, set()
        elif (self._known_at is None or len(self._known) > self.KEEP_LIMIT
              or (not self.fresh and self._known_at != first - 1)):
            self._known, self._complete, self._docs_written = {}, False, None
        self._known_at, self._pending_at = None, rows[-1][0]  # kept rows change from here on
        known = self._known
        keys_of: dict[str, Key] = {}
        doc_streams: set[str] = set()
        doc_kinds: dict[str, str] = {}
        for sid in {r[1] for r in rows}:
            if sid.startswith("stock:"):
                keys_of[sid] = parse_stock_stream(sid)
            elif (kind := stream_kind(sid)) in DOCUMENT_KINDS:
                doc_streams.add(sid)
                doc_kinds[sid] = kind
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
        written = self._docs_written
        stored = doc_streams if written is None else doc_streams & written
        doc_rows = self.store.load_view_rows("documents", {(sid,) for sid in stored}) if stored else {}
        # by stream id; each state is this fold's own object (decoded or built here): updated in place
        docs: dict[str, State] = {k[0]: codec.decode_state(k[0], row[-1]) for k, row in doc_rows.items()}
        opened: dict[str, str | None] = {k[0]: row[8] for k, row in doc_rows.items()}
        decode = codec.decode_event
        loads = orjson.loads
        linear = LINEAR_EFFECTS
        openers, counters = DOCUMENT_OPENERS, DOCUMENT_COUNTERS
        every = self.snapshot_every
        staged_by_stream: dict[str, set[Key]] = {}

        for position, stream_id, type_name, schema_version, data, occurred_at in rows:
            row = by_stream.get(stream_id)
            if row is not None:
                delta: tuple[int, ...] | None = None
                fast = linear.get(type_name)
                if fast is not None and fast[0] == schema_version:
                    payload = loads(data)
                    lot_field = fast[2]
                    if lot_field is not None and (named := payload.get(lot_field)) is not None and (
                            named or lot_field == "lot"):
                        fast = None  # a lot to track: the general path
                else:
                    fast = None
                if fast is not None:
                    _, amount_field, _, first_index, first_coefficient, others = fast
                    amount = payload[amount_field]
                    q = row.q
                    q[first_index] += first_coefficient * amount
                    for index, coefficient in others:
                        q[index] += coefficient * amount
                    last_snapshot_at = row.last_snapshot_at
                    if last_snapshot_at is not None and occurred_at < last_snapshot_at:
                        vector = [0, 0, 0, 0, 0, 0]
                        vector[first_index] = first_coefficient * amount
                        for index, coefficient in others:
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
                last_time = row.last_time
                if last_time is None or occurred_at > last_time:
                    row.last_time = last_time = occurred_at
                since = row.since_snapshot + 1
                if since >= every:
                    snapshot_key = (stream_id, last_time, position)
                    snapshots[snapshot_key] = tuple(row.q)
                    staged_by_stream.setdefault(stream_id, set()).add(snapshot_key)
                    since = 0
                    row.last_snapshot_at = last_time
                row.since_snapshot = since
                continue
            doc_kind = doc_kinds.get(stream_id)
            if doc_kind is None:
                continue  # no read model (SKUs, sites)
            doc = docs.get(stream_id)
            counter = counters.get(type_name)
            # a state's class is its stream's kind, so the class check is the kind check
            if counter is not None and counter[0] == schema_version and type(doc) is counter[1]:
                name = counter[3]
                setattr(doc, name, getattr(doc, name) + counter[4] * loads(data)[counter[2]])
                continue
            if doc is None:
                opened[stream_id] = occurred_at
            opener = openers.get(type_name)
            if opener is not None and opener[0] == schema_version and opener[1] == doc_kind:
                payload = loads(data)
                if payload.keys() == opener[3]:  # exactly the event's fields (else decode tells what is wrong)
                    docs[stream_id] = opener[2](**payload)
                    continue
            docs[stream_id] = evolve(stream_id, doc, decode(type_name, schema_version, data))

        if self.fresh and self._complete:
            # Nobody reads these rows before the swap: write each stock row once, at flush().
            self._unsaved.update(by_stream)
            if len(self._known) > self.KEEP_LIMIT:
                self._emit_stock_rows(changes, {sid: self._known[sid] for sid in self._unsaved}, keys_of)
                self._unsaved.clear()
        else:
            self._emit_stock_rows(changes, by_stream, keys_of)
        documents = changes["documents"]
        self._docs_pending = set(docs)
        for sid, doc in docs.items():
            documents[(sid,)] = document_row(sid, doc, opened.get(sid), doc_kinds[sid])
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


def document_row(stream_id: str, doc: State, opened_at: str | None, kind: str | None = None) -> Row:
    """The documents row of one document; ``kind`` is its stream's kind, when the caller knows it."""
    if kind is None:
        kind = stream_kind(stream_id)
    if isinstance(doc, ReservationState):
        site, counterparty, expected = doc.site, None, None
    elif isinstance(doc, TransferState):
        site, counterparty, expected = doc.to_site, doc.from_site, None
    else:
        assert isinstance(doc, PurchaseOrderState)
        site, counterparty, expected = doc.site, doc.supplier, doc.expected_at
    open_qty = doc.open_qty
    return (kind, doc.sku, site, counterparty, doc.qty, doc.qty - open_qty, "open" if open_qty > 0 else "closed",
            expected, opened_at, codec.encode_state(doc))
