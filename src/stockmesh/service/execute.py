"""Executing commands against the ledger: the unit of work behind every write.

Inside one writer-locked transaction: look up idempotency keys, load the states of the streams the
commands touch, decide each command in order against the states as the earlier commands left them,
fold the events in, then append everything at once with the stream versions it was decided on.
Either the whole batch is written or, with ``all_or_nothing=False``, exactly its valid commands.

This loop runs once per command of a million-line ingest, so it avoids per-command allocations
that a plainer version would make (metadata dicts, dataclass events for the store).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any

import orjson

from stockmesh.domain import errors as domain_errors
from stockmesh.domain.commands import Command
from stockmesh.domain.decide import decide
from stockmesh.domain.errors import DomainError, IdempotencyConflict, InvalidInput, Rejected, StockmeshError
from stockmesh.domain.events import Event, StockReceived, StockShipped
from stockmesh.domain.evolve import STATE_TYPES, evolve, stream_kind
from stockmesh.domain.model import State, StockState
from stockmesh.ledger import codec
from stockmesh.ledger.bulk.folds import fold_plain
from stockmesh.ledger.bulk.gc_pause import gc_paused
from stockmesh.ledger.port import EventStore, WriteSession
from stockmesh.ledger.records import IdempotencyRecord, NewEvent, OutboxMessage


@dataclass(slots=True)
class Outcome:
    """What became of one command: ``applied``, ``duplicate`` (its key was seen with the same
    payload: nothing new written) or ``rejected`` (``error`` says why)."""

    index: int
    status: str
    first_position: int | None = None
    last_position: int | None = None
    events: int = 0
    error: StockmeshError | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """An event recorded as a fact rather than decided from a command (a forecast, a proposal,
    an approval): appended as it is, in the same transaction as the batch's commands."""

    stream_id: str
    event: Event
    metadata: Mapping[str, Any] | None = None
    occurred_at: str | None = None


AfterEach = Callable[[int, Command, Outcome], tuple[Sequence[Fact], Sequence[OutboxMessage]]]


@dataclass(frozen=True, slots=True)
class Tally:
    applied: int
    duplicates: int
    events: int


def tally(outcomes: Sequence[Outcome]) -> Tally:
    """How many commands were applied (and the events they wrote) and how many were duplicates."""
    applied = [o for o in outcomes if o.status == "applied"]
    return Tally(len(applied), sum(o.status == "duplicate" for o in outcomes), sum(o.events for o in applied))


class BatchRejected(Rejected):
    """An all-or-nothing batch in which the command at ``index`` failed with ``error``: nothing was
    written. The adapters turn it into a ``Rejected`` naming the line or path of that command."""

    def __init__(self, index: int, error: StockmeshError) -> None:
        self.index = index
        super().__init__([error], summary=f"command {index + 1}: {error}")


_DOCUMENTS = (("reservation_id", "reservation"), ("transfer_id", "transfer"), ("po_id", "po"))
_SHAPES: dict[type, tuple[bool, bool, tuple[str, ...], bool, tuple[tuple[str, str], ...]]] = {}


def _shape(kind: type) -> tuple[bool, bool, tuple[str, ...], bool, tuple[tuple[str, str], ...]]:
    """Which stream-naming fields a command class has (computed once per class)."""
    names = {f.name for f in fields(kind)}
    shape = ("lines" in names, "sku" in names, tuple(a for a in ("site", "from_site", "to_site") if a in names),
             "supplier" in names, tuple((a, p) for a, p in _DOCUMENTS if a in names))
    _SHAPES[kind] = shape
    return shape


def _streams_of(command: Command, out: list[str], documents_out: list[str]) -> None:
    """Add the streams a command will surely read or write, so that a batch fetches them in one query
    (the documents it names to ``documents_out`` too: their stock streams are fetched next)."""
    has_lines, has_sku, site_fields, has_supplier, documents = _SHAPES.get(type(command)) or _shape(type(command))
    if has_lines:  # RecordSales: one site, many SKUs
        site = command.site  # type: ignore[attr-defined]
        out.append(f"site:{site}")
        for line_sku, _ in command.lines:  # type: ignore[attr-defined]
            out.append(f"sku:{line_sku}")
            out.append(f"stock:{line_sku}@{site}")
        return
    if has_sku:
        sku = command.sku  # type: ignore[attr-defined]
        out.append(f"sku:{sku}")
        for attr in site_fields:
            site = getattr(command, attr)
            out.append(f"site:{site}")
            out.append(f"stock:{sku}@{site}")
        if has_supplier:
            out.append(f"site:{command.supplier}")  # type: ignore[attr-defined]
    for attr, prefix in documents:
        stream = f"{prefix}:{getattr(command, attr)}"
        out.append(stream)
        documents_out.append(stream)


def _shipped_json(qty: int) -> str:
    """``codec.encode_event(StockShipped(qty=qty, lots=None))``, without building the event."""
    return f'{{"qty":{qty},"lots":null}}'


def _received_json(qty: int) -> str:
    """``codec.encode_event(StockReceived(qty=qty))``, without building the event."""
    return f'{{"qty":{qty},"lot":null,"expiry":null}}'


# What ``fold_plain`` folds, written from templates: (type, schema version, payload from the qty).
_TEMPLATES: dict[type[Event], tuple[str, int, Callable[[int], str]]] = {
    StockShipped: (StockShipped.type, StockShipped.schema_version, _shipped_json),
    StockReceived: (StockReceived.type, StockReceived.schema_version, _received_json),
}


def encode_state(state: State | None) -> str:
    """``codec.encode_state``, with a template for the common stock position without lots: every
    stream a batch touched is saved, so a POS day saves thousands of them (a test checks that both
    give the same text)."""
    if type(state) is StockState and not state.lots:
        return (f'{{"on_hand":{state.on_hand},"reserved":{state.reserved},"in_transit":{state.in_transit},'
                f'"on_order":{state.on_order},"backordered":{state.backordered},"quarantined":{state.quarantined},'
                f'"flagged":{"true" if state.flagged else "false"},"lots":{{}}}}')
    return "null" if state is None else codec.encode_state(state)


def refusal_text(error: StockmeshError) -> str:
    """A refused command's error as its idempotency record keeps it (``IdempotencyRecord.refusal``)."""
    return codec.dumps({"error": type(error).__name__, "field": getattr(error, "field", None),
                        "message": getattr(error, "message", str(error))})


def refused_with(text: str) -> StockmeshError:
    """The error a refusal record holds, raised again for the same key and payload."""
    refusal = orjson.loads(text)
    kind = getattr(domain_errors, str(refusal.get("error")), None)
    if not (isinstance(kind, type) and issubclass(kind, (DomainError, InvalidInput))):
        kind = DomainError
    return kind(str(refusal.get("message")), field=refusal.get("field"))  # type: ignore[no-any-return]


def _metadata_template(base: Mapping[str, Any]) -> tuple[dict[str, Any], str, str]:
    """Canonical metadata JSON split around the command name and key, filled in per command."""
    if not base:
        return {}, "", ""
    extra = {k: v for k, v in base.items() if k not in ("command", "idempotency_key", "correlation_id", "actor")}
    tail = orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode()[1:-1]
    return extra, ("," + tail if tail else ""), str(base.get("correlation_id") or "")


Fingerprints = Callable[[bool], Sequence[str] | None]
Chunk = tuple[Sequence[Command], "Fingerprints | None"]  # a part of a batch, and who fingerprints it


def execute(store: EventStore, commands: Sequence[Command], *, all_or_nothing: bool = True,
            metadata: Mapping[str, Any] | None = None, facts: Sequence[Fact] = (),
            outbox: Sequence[OutboxMessage] = (), after_each: AfterEach | None = None,
            fingerprints: Fingerprints | None = None,
            write: Callable[[], AbstractContextManager[WriteSession]] | None = None) -> list[Outcome]:
    """Decide and append ``commands`` in one transaction; see the module docstring.

    Idempotency fingerprints are taken over the validated commands themselves. ``fingerprints``
    may compute them elsewhere (a big ingest has another process do it while this one decides):
    ``fingerprints(wait)`` returns them in command order, or None (not ready, when not ``wait``;
    failed, when ``wait``: then they are computed here). ``write`` opens the write session instead
    of ``store.write``; a session with a ``stream`` method (``ledger.bulk.writer``: the SQL in another
    process) is handed the events, and the idempotency records once the fingerprints are there, in
    parts of ``STREAM_EVERY`` events as they are decided. Raises
    ``BatchRejected`` when ``all_or_nothing`` and any command fails.
    ``facts`` (appended before the commands' events) and ``outbox`` messages are written in the same
    transaction; ``after_each`` may add more of both for each command once its outcome is known
    (e.g. "proposal executed"), appended right after that command's events.
    Metadata on every event: command, idempotency_key, correlation_id (the caller's, else the key),
    actor when known, and whatever ``metadata`` adds (source, causation_id, policy_version...).
    With ``all_or_nothing=False`` a command refused by a rule (``DomainError``, ``InvalidInput``)
    leaves its key a refusal record (``records.IdempotencyRecord``): the same key and payload get
    the same error again. A batch refused as a whole keeps nothing, its keys neither.
    """
    outcomes: list[Outcome] = []
    execute_chunks(store, [(commands, fingerprints)], outcomes.extend, all_or_nothing=all_or_nothing,
                   metadata=metadata, facts=facts, outbox=outbox, after_each=after_each, write=write)
    return outcomes


def execute_chunks(store: EventStore, chunks: Iterable[Chunk], on_chunk: Callable[[list[Outcome]], None], *,
                   all_or_nothing: bool = True, metadata: Mapping[str, Any] | None = None,
                   facts: Sequence[Fact] = (), outbox: Sequence[OutboxMessage] = (),
                   after_each: AfterEach | None = None,
                   write: Callable[[], AbstractContextManager[WriteSession]] | None = None,
                   repeats: Callable[[str], bool] | None = None) -> None:
    """``execute`` over a batch that comes in chunks (a big file, read a part at a time): one
    transaction, each chunk decided against the states the earlier ones left, its events and keys
    handed to the session when it is done, its outcomes to ``on_chunk`` (``Outcome.index`` and
    ``BatchRejected.index`` count within the chunk); nothing of a chunk is kept once it is written,
    but the states of the streams the batch touched. ``repeats(key)``: whether a key may come again
    in a later chunk (those keys are remembered; a session that sees its own writes finds the
    others, one that does not, ``ledger.bulk.writer``'s, needs it for every repeated key)."""
    base = dict(metadata or {})
    extra, extra_json, correlation = _metadata_template(base)
    if any(k < "idempotency_key" for k in extra):  # keep the JSON canonical: sorted keys only
        extra_json = ""
    dumps = orjson.dumps
    fingerprint_of = codec.command_fingerprint
    cache = _state_cache(store)
    with gc_paused(), (write or store.write)() as session:
        now = store.clock.now_iso()  # under the lock: the events' recorded_at too
        start_head = session.head_position
        warm = cache.valid_at(start_head)
        states: dict[str, tuple[int, State | None]] = {}
        loaded_versions: dict[str, int] = {}  # each stream's version before the batch
        saved_versions: dict[str, int] = {}  # ... and as this batch last saved it
        earlier: dict[str, IdempotencyRecord] = {}  # keys of earlier chunks that may come again
        unsaved: set[str] = set()  # streams touched, their states not yet saved
        stream = getattr(session, "stream", None)
        messages: list[OutboxMessage] = list(outbox)

        def prefetch(stream_ids: list[str]) -> None:
            missing = [s for s in dict.fromkeys(stream_ids) if s not in states]
            if warm and missing:
                cached = cache.entries
                for sid in missing:
                    hit = cached.get(sid)
                    if hit is not None:
                        states[sid] = hit
                        loaded_versions[sid] = hit[0]
                missing = [s for s in missing if s not in states]
            found = session.load_states(missing)
            for sid in missing:
                if sid in found:
                    version, text = found[sid]
                    states[sid] = (version, codec.decode_state(sid, text)
                                   if sid.startswith("stock:") or stream_kind(sid) in STATE_TYPES else None)
                else:
                    states[sid] = (0, None)
                loaded_versions[sid] = states[sid][0]

        def get(stream_id: str) -> State | None:
            entry = states.get(stream_id)
            if entry is None:
                prefetch([stream_id])
                entry = states[stream_id]
            return entry[1]

        new_events: list[NewEvent] = []

        def add_facts(items: Sequence[Fact]) -> None:
            for fact in items:
                get(fact.stream_id)
                version, state = states[fact.stream_id]
                if stream_kind(fact.stream_id) in STATE_TYPES:
                    state = evolve(fact.stream_id, state, fact.event)
                states[fact.stream_id] = (version + 1, state)
                fact_meta = {**base, **(fact.metadata or {})}
                new_events.append(NewEvent(fact.stream_id, fact.event.type, fact.event.schema_version,
                                           codec.encode_event(fact.event), codec.dumps(fact_meta),
                                           fact.occurred_at or now))

        for chunk_number, (commands, fingerprints) in enumerate(chunks):
            # Until the append, a fingerprint is only needed to compare a key's two payloads; computed
            # here when none come from elsewhere (a command's idempotency record is made at the end).
            computed = [fingerprint_of(c) for c in commands] if fingerprints is None else None

            def fingerprint_at(index: int, commands: Sequence[Command] = commands,
                               computed: list[str] | None = computed) -> str:
                return computed[index] if computed is not None else fingerprint_of(commands[index])

            outcomes: list[Outcome] = []
            seen = session.find_idempotency([c.idempotency_key for c in commands])
            if earlier:
                seen.update({c.idempotency_key: earlier[c.idempotency_key] for c in commands
                             if c.idempotency_key in earlier})
            wanted: list[str] = []
            documents: list[str] = []
            for command in commands:
                _streams_of(command, wanted, documents)
            prefetch(wanted)
            # second round: the stock streams that documents (orders, transfers, reservations) point
            # at, and the fact streams, so that none of them is fetched alone later
            wanted = [fact.stream_id for fact in facts] if chunk_number == 0 else []
            for sid in dict.fromkeys(documents):
                doc = states[sid][1]
                sku = getattr(doc, "sku", None)
                site = getattr(doc, "to_site", None) or getattr(doc, "site", None)
                if sku is not None and site is not None and not sid.startswith("stock:"):
                    wanted.append(f"stock:{sku}@{site}")
            prefetch(wanted)
            new_events = []
            if chunk_number == 0:
                add_facts(facts)  # the facts given up front come first: they are what the commands follow from
            # (key, index, first, last position, refusal) of each applied or refused command
            applied: list[tuple[str, int, int | None, int | None, str | None]] = []
            batch_keys: dict[str, int] = {}  # key -> index of its first command in this chunk
            batch_refusals: dict[str, str] = {}  # key -> refusal, of the commands refused in this chunk
            stream_at = STREAM_EVERY
            records: list[IdempotencyRecord] = []  # of the applied and refused commands, once fingerprinted
            prints: Sequence[str] | None = computed

            def add_records(wait: bool, fingerprints: Fingerprints | None = fingerprints,
                            commands: Sequence[Command] = commands, records: list[IdempotencyRecord] = records,
                            applied: list[tuple[str, int, int | None, int | None, str | None]] = applied) -> None:
                nonlocal prints
                if prints is None and fingerprints is not None:
                    prints = fingerprints(wait)
                if prints is None and wait:
                    prints = [fingerprint_of(c) for c in commands]
                if prints is not None:
                    records.extend(IdempotencyRecord(key, prints[index], first, last, now, refusal)
                                   for key, index, first, last, refusal in applied[len(records):])

            repeated: list[Outcome] = []
            for index, command in enumerate(commands):
                key = command.idempotency_key
                prior = seen.get(key)
                first_index = batch_keys.get(key)
                replayed: StockmeshError | None = None
                try:
                    if prior is not None or first_index is not None:
                        prior_hash = (prior.payload_hash if prior is not None
                                      else fingerprint_at(first_index))  # type: ignore[arg-type]
                        if prior_hash != fingerprint_at(index):
                            raise IdempotencyConflict(key)
                        refusal = prior.refusal if prior is not None else batch_refusals.get(key)
                        if refusal is not None:  # refused before: the same answer, not a new decision
                            replayed = refused_with(refusal)
                            raise replayed
                        if prior is not None:
                            outcomes.append(Outcome(index, "duplicate", prior.first_position, prior.last_position))
                        else:
                            repeated.append(Outcome(index, "duplicate", None, None))
                            outcomes.append(repeated[-1])
                        continue
                    plain = fold_plain(command, get)
                    decision = decide(command, get) if plain is None else []
                except StockmeshError as exc:
                    if all_or_nothing:  # the batch is refused as a whole: nothing is kept, keys neither
                        raise BatchRejected(index, exc) from exc
                    outcomes.append(Outcome(index, "rejected", error=exc))
                    if exc is not replayed and isinstance(exc, (DomainError, InvalidInput)):
                        # a command refused on its own: its key keeps the refusal (records.IdempotencyRecord)
                        text = refusal_text(exc)
                        batch_keys[key] = index
                        batch_refusals[key] = text
                        applied.append((key, index, None, None, text))
                    continue
                key_json = dumps(key).decode()
                corr_json = dumps(correlation).decode() if correlation else key_json
                actor = f'"actor":{dumps(command.actor).decode()},' if command.actor else ""
                meta_text = (f'{{{actor}"command":"{command.name}","correlation_id":{corr_json},'
                             f'"idempotency_key":{key_json}{extra_json}}}')
                if extra and not extra_json:
                    meta = {**extra, "command": command.name, "idempotency_key": key,
                            "correlation_id": correlation or key}
                    if command.actor:
                        meta["actor"] = command.actor
                    meta_text = codec.dumps(meta)
                occurred_at = command.occurred_at or now
                start = len(new_events)
                for stream_id, event in decision:
                    if stream_id not in states:
                        get(stream_id)  # a stream decide wrote without reading: load its version
                    version, state = states[stream_id]
                    states[stream_id] = (version + 1, evolve(stream_id, state, event))
                    new_events.append(NewEvent(stream_id, event.type, event.schema_version,
                                               dumps(event, option=orjson.OPT_SORT_KEYS).decode(), meta_text,
                                               occurred_at))
                if plain is not None:  # already folded: the same events, written from a template
                    type_name, schema_version, template = _TEMPLATES[plain[0]]
                    append_event = new_events.append
                    for stream_id, qty, after in plain[1]:
                        states[stream_id] = (states[stream_id][0] + 1, after)
                        append_event(NewEvent(stream_id, type_name, schema_version, template(qty), meta_text,
                                              occurred_at))
                count = len(decision) if plain is None else len(plain[1])
                batch_keys[key] = index
                outcome = Outcome(index, "applied", None, None, count)
                outcomes.append(outcome)
                # Positions follow from the head: the k-th new event (from 0) gets head + k + 1.
                first = session.head_position + start + 1 if count else None
                last = session.head_position + start + count if count else None
                outcome.first_position, outcome.last_position = first, last
                applied.append((key, index, first, last, None))
                if len(new_events) >= stream_at and stream is not None:
                    add_records(wait=False)
                    stream(new_events, loaded_versions, now, records)
                    stream_at = len(new_events) + STREAM_EVERY
                if after_each is not None:
                    more_facts, more_outbox = after_each(index, command, outcome)
                    add_facts(more_facts)
                    messages.extend(more_outbox)
            # a key repeated inside the chunk points at its first command (a duplicate of an earlier
            # batch already has its positions, which are None when that command wrote nothing)
            for outcome in repeated:
                first_outcome = outcomes[batch_keys[commands[outcome.index].idempotency_key]]
                outcome.first_position = first_outcome.first_position
                outcome.last_position = first_outcome.last_position
            if len(records) < len(applied):
                add_records(wait=True)
            if repeats is not None:
                earlier.update({r.key: r for r in records if repeats(r.key)})
            touched = {e[0] for e in new_events}  # e[0] is the stream id: faster than the named field
            if stream is not None:  # the writer process: the events now, the states at the end
                stream(new_events, loaded_versions, now, records)
                session.next_chunk()  # type: ignore[attr-defined]
                unsaved |= touched
            else:
                saved: dict[str, tuple[int, str]] = {}
                for sid in touched:
                    version, state = states[sid]
                    saved[sid] = (version, encode_state(state))
                expected = {sid: saved_versions.get(sid, loaded_versions[sid]) for sid in touched}
                session.append(new_events, saved, records, expected, messages, recorded_at=now)
                saved_versions.update({sid: version for sid, (version, _) in saved.items()})
                messages = []
            new_events = []
            on_chunk(outcomes)
        if stream is not None:
            final = {sid: (states[sid][0], encode_state(states[sid][1])) for sid in unsaved}
            session.append([], final, [], {sid: loaded_versions[sid] for sid in unsaved}, messages,
                           recorded_at=now)
        end_head = session.head_position
    cache.update(start_head, end_head, states)


STREAM_EVERY = 5_000  # events per part handed to a streaming session


class _StateCache:
    """Decoded stream states as of a ledger head, kept between this process's writes.

    A write session takes the writer lock and reads the head first. When the head is the one this
    cache was stamped with, nobody (no other thread or process) has written since, so the cached
    states are the current ones and need no query; otherwise the cache is not used. It is updated
    only after a commit, with the states the batch read or wrote under the lock."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.head = -1
        self.entries: dict[str, tuple[int, State | None]] = {}

    def valid_at(self, head: int) -> bool:
        with self.lock:
            return head == self.head

    def update(self, start_head: int, end_head: int, states: dict[str, tuple[int, State | None]]) -> None:
        with self.lock:
            if end_head < self.head:
                return  # a later commit already stamped the cache
            if start_head != self.head or len(self.entries) + len(states) > self.LIMIT:
                self.entries = {}
            self.entries.update(states)
            self.head = end_head


_CACHES: weakref.WeakKeyDictionary[Any, _StateCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _state_cache(store: EventStore) -> _StateCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = _StateCache()
        return cache
