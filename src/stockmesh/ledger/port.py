"""The event store port: what handlers and projections need from any backend.

A write runs inside ``store.write()``: the backend takes its writer lock (SQLite ``BEGIN
IMMEDIATE``, PostgreSQL a row lock on the chain head, memory a mutex) before anything is read, so
the states a command is decided on cannot change before its events are appended. That lock is
also what makes the global position gapless and the hash chain linear. ``UNIQUE(stream_id,
version)`` stays as the last line of defence: a version clash raises ``ConcurrencyError``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from stockmesh.ledger.records import IdempotencyRecord, NewEvent, OutboxEntry, OutboxMessage, RecordedEvent


class WriteSession(Protocol):
    head_position: int  # the last position before this session appends

    def load_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Current (version, encoded state) of each stream that has events."""
        ...

    def find_idempotency(self, keys: Iterable[str]) -> dict[str, IdempotencyRecord]: ...

    def append(self, events: Sequence[NewEvent], states: Mapping[str, tuple[int, str]],
               idempotency: Sequence[IdempotencyRecord], expected_versions: Mapping[str, int],
               outbox: Sequence[OutboxMessage] = (), recorded_at: str | None = None) -> None:
        """Append events (versions follow ``expected_versions``), save stream states, keys and
        outbox messages, all in the session's one transaction. ``recorded_at``: the time to stamp
        on the events (default: now); the caller passes the one it took under the writer lock."""
        ...


class EventStore(Protocol):
    url: str
    head_key: bytes | None  # signs every new head (ledger.chain.sign_head); None: heads unsigned

    def init(self) -> None: ...

    def write(self) -> AbstractContextManager[WriteSession]: ...

    def read_all(self, after: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]: ...

    def read_fold_rows(self, after: int = 0, limit: int = 50_000, *, upto: int | None = None,
                       streams: tuple[str | None, str | None] | None = None
                       ) -> list[tuple[int, str, str, int, str, str]]:
        """The next events after ``after`` (and at most ``upto``) as (position, stream_id, type,
        schema_version, data, occurred_at): what the read models fold, without the columns only the
        audit needs. ``streams=(low, high)`` keeps the streams with low <= stream_id < high, compared
        as Python compares str (None: unbounded)."""
        ...

    def sample_stream_ids(self, count: int, upto: int | None = None) -> list[str]:
        """The streams of about ``count`` events spread evenly over the ledger (up to ``upto``): a
        stream appears about as often as its share of the events."""
        ...

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]: ...

    def head(self) -> tuple[int, str]:
        """(last position, its hash) as recorded by the writer: 0 and the genesis hash when empty."""
        ...

    # what the audit reads (service.audit): each bounded, whatever the ledger's size
    def read_by_stream(self, after: tuple[str, int] | None = None, limit: int = 20_000
                       ) -> list[tuple[str, int, int, str, int, str]]:
        """Events in (stream, version) order after ``after``: (stream_id, version, position, type,
        schema_version, data)."""
        ...

    def stored_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        """The write-side (version, encoded state) rows of these streams."""
        ...

    def streams_without_events(self, limit: int = 100) -> list[str]:
        """Write-side state rows of streams that have no event."""
        ...

    def idempotency_spans(self, keys: Iterable[str] | None = None, *, after: str | None = None,
                          limit: int = 20_000) -> list[tuple[str, int | None, int | None]]:
        """(key, first_position, last_position) of the records of ``keys``, or (``keys`` None) the
        next ``limit`` records in key order after ``after``."""
        ...

    def metadata_at(self, positions: Iterable[int]) -> dict[int, str]:
        """The stored metadata of the events at these positions."""
        ...

    def head_signature(self) -> str | None:
        """The signature stored with the head (``chain.sign_head``), None when it is unsigned."""
        ...

    def set_head_signature(self, position: int, head_hash: str, signature: str) -> bool:
        """Store ``signature`` for the head if it still is (position, hash); False if it moved."""
        ...

    def count_events(self) -> int: ...

    def stream_ids(self, prefix: str) -> list[str]: ...

    # read models
    def load_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                  after: tuple[str, Any] | None = None, until: tuple[str, Any] | None = None,
                  since: tuple[str, Any] | None = None, any_of: Mapping[str, Collection[Any]] | None = None,
                  after_key: tuple[Any, ...] | None = None, limit: int | None = None,
                  offset: int = 0) -> list[tuple[Any, ...]]:
        """Rows matching ``where`` (equality), ``after`` (column > value), ``since`` (column >= value),
        ``until`` (column <= value) and ``any_of`` (column in values), in key order. A page of them:
        ``after_key`` (the rows whose key comes after it: a keyset cursor), then ``offset`` rows
        skipped and at most ``limit`` returned, all done by the backend (a page never reads the
        whole table into Python)."""
        ...

    def count_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                   any_of: Mapping[str, Collection[Any]] | None = None) -> int:
        """How many rows ``load_view`` with the same ``where`` and ``any_of`` would return in all."""
        ...

    def load_view_rows(self, view: str, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        ...

    def save_views(self, changes: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...] | None]],
                   checkpoint: int) -> None:
        """Upsert (or delete, for ``None``) view rows and move the checkpoint, in one transaction."""
        ...

    def view_checkpoint(self) -> int: ...

    def reset_views(self) -> None: ...

    # transactional outbox
    def outbox_entries(self, *, status: str | None = "pending", due_before: str | None = None,
                       limit: int = 100, after_seq: int = 0) -> list[OutboxEntry]: ...

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: str | None = None,
                      last_error: str | None = None, delivered_at: str | None = None) -> None: ...

    def close(self) -> None: ...
