"""In-memory backend: real code, used by the twin and by unit tests. One mutex is the writer lock."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.errors import ConcurrencyError
from stockmesh.ledger.chain import check_head, seal, sign_head
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import (
    GENESIS_HASH,
    IdempotencyRecord,
    NewEvent,
    OutboxEntry,
    OutboxMessage,
    RecordedEvent,
)
from stockmesh.ledger.views import VIEWS


class MemoryWriteSession:
    def __init__(self, store: MemoryEventStore) -> None:
        self.store = store
        # Changes are staged and applied only when the block exits cleanly: all or nothing.
        self.staged_events: list[RecordedEvent] = []
        self.staged_states: dict[str, tuple[int, str]] = {}
        self.staged_keys: dict[str, IdempotencyRecord] = {}
        self.staged_outbox: list[OutboxMessage] = []
        self.head = store._head
        check_head(store.head_key, *store._head, store._head_signature)

    @property
    def head_position(self) -> int:
        return self.head[0]

    def load_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        out = {}
        for sid in stream_ids:
            found = self.staged_states.get(sid) or self.store._states.get(sid)
            if found is not None:
                out[sid] = found
        return out

    def find_idempotency(self, keys: Iterable[str]) -> dict[str, IdempotencyRecord]:
        out = {}
        for key in keys:
            found = self.staged_keys.get(key) or self.store._keys.get(key)
            if found is not None:
                out[key] = found
        return out

    def append(self, events: Sequence[NewEvent], states: Mapping[str, tuple[int, str]],
               idempotency: Sequence[IdempotencyRecord], expected_versions: Mapping[str, int],
               outbox: Sequence[OutboxMessage] = (), recorded_at: str | None = None) -> None:
        for sid, version in expected_versions.items():
            current = (self.staged_states.get(sid) or self.store._states.get(sid) or (0, ""))[0]
            if current != version:
                raise ConcurrencyError(f"stream {sid} is at version {current}, expected {version}")
        for r in idempotency:
            if r.key in self.store._keys or r.key in self.staged_keys:
                raise ConcurrencyError(f"idempotency key {r.key!r} recorded concurrently")
        stamp = recorded_at or self.store.clock.now_iso()
        rows = seal(events, expected_versions, self.head[0], self.head[1], stamp)
        recorded = [RecordedEvent(*row) for row in rows]
        self.staged_events.extend(recorded)
        self.staged_states.update(states)
        self.staged_keys.update({r.key: r for r in idempotency})
        self.staged_outbox.extend(outbox)
        if recorded:
            self.head = (recorded[-1].position, recorded[-1].hash)


class MemoryEventStore(EventStore):
    """Every port but ``Rebuildable``: its ledger lives in this process, which no other can open."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._events: list[RecordedEvent] = []
        self._by_stream: dict[str, list[RecordedEvent]] = {}
        self._states: dict[str, tuple[int, str]] = {}
        self._keys: dict[str, IdempotencyRecord] = {}
        self._head: tuple[int, str] = (0, GENESIS_HASH)
        self._head_signature: str | None = None
        self.head_key: bytes | None = None  # the key that signs every new head; None: unsigned
        self.clock: Clock = SYSTEM_CLOCK  # stamps recorded_at; bootstrap may hand another
        self._views: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {v: {} for v in VIEWS}
        self._checkpoint = 0
        self._outbox: list[OutboxEntry] = []
        self._outbox_ids: set[str] = set()
        self._lock = threading.RLock()

    def init(self) -> None:
        pass

    @contextmanager
    def write(self) -> Iterator[MemoryWriteSession]:
        with self._lock:
            session = MemoryWriteSession(self)
            yield session
            for e in session.staged_events:
                self._events.append(e)
                self._by_stream.setdefault(e.stream_id, []).append(e)
            self._states.update(session.staged_states)
            self._keys.update(session.staged_keys)
            for message in session.staged_outbox:
                if message.message_id not in self._outbox_ids:
                    self._outbox_ids.add(message.message_id)
                    self._outbox.append(OutboxEntry(len(self._outbox) + 1, *message, "pending", 0, None, None, None))
            if session.head != self._head:
                key = self.head_key
                self._head_signature = sign_head(key, *session.head) if key is not None else None
            self._head = session.head

    def read_all(self, after: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        with self._lock:
            selected = self._events[after:] if limit is None else self._events[after:after + limit]
        yield from selected

    def read_fold_rows(self, after: int = 0, limit: int = 50_000, *, upto: int | None = None,
                       streams: tuple[str | None, str | None] | None = None
                       ) -> list[tuple[int, str, str, int, str, str]]:
        with self._lock:
            selected = self._events[after:upto]
        if streams is not None:
            low, high = streams
            selected = [e for e in selected
                        if (low is None or e.stream_id >= low) and (high is None or e.stream_id < high)]
        return [(e.position, e.stream_id, e.type, e.schema_version, e.data, e.occurred_at) for e in selected[:limit]]

    def sample_stream_ids(self, count: int, upto: int | None = None) -> list[str]:
        with self._lock:
            events = self._events[:upto]
        step = max(1, len(events) // max(1, count))
        return [e.stream_id for e in events[step - 1::step]]

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        with self._lock:
            return [e for e in self._by_stream.get(stream_id, ()) if e.version > after_version]

    def head(self) -> tuple[int, str]:
        return self._head

    # -- what the audit reads (service.audit); see SqlEventStore ---------------------------------
    def read_by_stream(self, after: tuple[str, int] | None = None, limit: int = 20_000
                       ) -> list[tuple[str, int, int, str, int, str]]:
        with self._lock:
            rows = sorted((e.stream_id, e.version, e.position, e.type, e.schema_version, e.data)
                          for e in self._events)
        if after is not None:
            rows = [r for r in rows if (r[0], r[1]) > after]
        return rows[:limit]

    def stored_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        with self._lock:
            return {sid: self._states[sid] for sid in stream_ids if sid in self._states}

    def streams_without_events(self, limit: int = 100) -> list[str]:
        with self._lock:
            return sorted(sid for sid in self._states if not self._by_stream.get(sid))[:limit]

    def idempotency_spans(self, keys: Iterable[str] | None = None, *, after: str | None = None,
                          limit: int = 20_000) -> list[tuple[str, int | None, int | None]]:
        with self._lock:
            records = list(self._keys.values())
        if keys is not None:
            wanted = set(keys)
            return [(r.key, r.first_position, r.last_position) for r in records if r.key in wanted]
        spans = sorted((r.key, r.first_position, r.last_position) for r in records
                       if after is None or r.key > after)
        return spans[:limit]

    def metadata_at(self, positions: Iterable[int]) -> dict[int, str]:
        with self._lock:
            events = self._events
            return {p: events[p - 1].metadata for p in positions if 1 <= p <= len(events)}

    def head_signature(self) -> str | None:
        return self._head_signature

    def set_head_signature(self, position: int, head_hash: str, signature: str) -> bool:
        with self._lock:
            if self._head != (position, head_hash):
                return False
            self._head_signature = signature
            return True

    def count_events(self) -> int:
        return len(self._events)

    def stream_ids(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(s for s in self._states if s.startswith(prefix))

    def load_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                  after: tuple[str, Any] | None = None, until: tuple[str, Any] | None = None,
                  since: tuple[str, Any] | None = None, any_of: Mapping[str, Collection[Any]] | None = None,
                  after_key: tuple[Any, ...] | None = None, limit: int | None = None,
                  offset: int = 0) -> list[tuple[Any, ...]]:
        spec = VIEWS[view]
        index = {c: i for i, c in enumerate(spec.all_columns)}
        for column in [*(where or {}), *(any_of or {}), *(c[0] for c in (after, until, since) if c)]:
            if column not in index:
                raise KeyError(column)
        if after_key is not None and len(after_key) != len(spec.key):
            raise KeyError(f"after_key needs {len(spec.key)} values: {', '.join(spec.key)}")
        with self._lock:
            rows = [k + v for k, v in self._views[view].items()]
        rows = [r for r in rows if all(r[index[c]] == val for c, val in (where or {}).items())]
        for column, values in (any_of or {}).items():
            wanted = set(values)
            rows = [r for r in rows if r[index[column]] in wanted]
        if after is not None:
            rows = [r for r in rows if r[index[after[0]]] > after[1]]
        if until is not None:
            rows = [r for r in rows if r[index[until[0]]] <= until[1]]
        if since is not None:
            rows = [r for r in rows if r[index[since[0]]] >= since[1]]
        width = len(spec.key)
        if after_key is not None:
            rows = [r for r in rows if r[:width] > tuple(after_key)]
        rows.sort(key=lambda r: r[:width])
        return rows[offset:] if limit is None else rows[offset:offset + limit]

    def count_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                   any_of: Mapping[str, Collection[Any]] | None = None) -> int:
        return len(self.load_view(view, where, any_of=any_of))

    def load_view_rows(self, view: str, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        table = self._views[view]
        return {k: table[k] for k in keys if k in table}

    def save_views(self, changes: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...] | None]],
                   checkpoint: int) -> None:
        with self._lock:
            tables = {view: self._views[view] for view in changes}  # an unknown view changes nothing
            for view, rows in changes.items():
                table = tables[view]
                for key, value in rows.items():
                    if value is None:
                        table.pop(key, None)
                    else:
                        table[key] = value
            self._checkpoint = checkpoint

    def view_checkpoint(self) -> int:
        return self._checkpoint

    def reset_views(self) -> None:
        with self._lock:
            self._views = {v: {} for v in VIEWS}
            self._checkpoint = 0

    def outbox_entries(self, *, status: str | None = "pending", due_before: str | None = None,
                       limit: int = 100, after_seq: int = 0) -> list[OutboxEntry]:
        with self._lock:
            rows = [e for e in self._outbox if e.seq > after_seq and (status is None or e.status == status)
                    and (due_before is None or e.next_attempt_at is None or e.next_attempt_at <= due_before)]
        return rows[:limit]

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: str | None = None,
                      last_error: str | None = None, delivered_at: str | None = None) -> None:
        with self._lock:
            entry = self._outbox[seq - 1]
            self._outbox[seq - 1] = entry._replace(status=status, attempts=attempts, next_attempt_at=next_attempt_at,
                                                   last_error=last_error, delivered_at=delivered_at)

    def close(self) -> None:
        pass
