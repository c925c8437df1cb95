"""The event store ports: small Protocols, one per thing a caller needs from a backend.

A caller asks for the smallest one that covers what it does, so it can be given any backend that
offers it (and a test a fake of a few methods):

    EventLog        the append-only, hash-chained log: write sessions, reads, the head
    AuditReads      the bounded walks ``service.audit`` makes over the log's own records
    ViewStore       read models and their checkpoint (what ``projections`` folds into)
    OutboxStore     the transactional outbox, as the relay reads and marks it
    EventStore      all four: what every backend (memory, SQLite, PostgreSQL) is
    Rebuildable     what a backend other processes can open offers for a parallel replay
                    (SQLite and PostgreSQL; not memory, whose ledger lives in one process)

Each is ``runtime_checkable``: ``isinstance(store, Rebuildable)`` is how a caller asks whether a
backend has that capability. The backends declare the ports they implement on their ``class`` line,
so mypy checks every signature against the port; ``tests/contract`` runs one suite per port over
every backend.

A write runs inside ``store.write()``: the backend takes its writer lock (SQLite ``BEGIN
IMMEDIATE``, PostgreSQL a row lock on the chain head, memory a mutex) before anything is read, so
the states a command is decided on cannot change before its events are appended. That lock is
also what makes the global position gapless and the hash chain linear. ``UNIQUE(stream_id,
version)`` stays as the last line of defence: a version clash raises ``ConcurrencyError``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from stockmesh.domain.clock import Clock
from stockmesh.ledger.records import IdempotencyRecord, NewEvent, OutboxEntry, OutboxMessage, RecordedEvent

#: How another process opens the same store: (backend, args, kwargs), picklable and JSON-able.
ReopenSpec = tuple[str, tuple[Any, ...], dict[str, Any]]


@runtime_checkable
class WriteSession(Protocol):
    """One write transaction, handed out by ``EventLog.write()`` once the writer lock is held:
    what a command batch is decided on (states, idempotency records) and appended with."""

    @property
    def head_position(self) -> int:
        """The last position before this session appends."""
        ...

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


@runtime_checkable
class EventLog(Protocol):
    """The append-only, hash-chained event log: what commands are executed against and what every
    reader of events (read models, explain, the chain check, exports) reads. Positions are
    gapless from 1; versions count from 1 per stream."""

    url: str
    head_key: bytes | None  # signs every new head (ledger.chain.sign_head); None: heads unsigned
    clock: Clock  # stamps every write's recorded_at (bootstrap hands it; default the system clock)

    def init(self) -> None:
        """Create what the backend needs (tables, schema); harmless on a ledger that has it."""
        ...

    def write(self) -> AbstractContextManager[WriteSession]:
        """A write session under the writer lock: committed when the block ends, rolled back (nothing
        of it written) when it raises."""
        ...

    def read_all(self, after: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        """Events in position order after ``after``, at most ``limit`` of them."""
        ...

    def read_fold_rows(self, after: int = 0, limit: int = 50_000, *, upto: int | None = None,
                       streams: tuple[str | None, str | None] | None = None
                       ) -> list[tuple[int, str, str, int, str, str]]:
        """The next events after ``after`` (and at most ``upto``) as (position, stream_id, type,
        schema_version, data, occurred_at): what the read models fold, without the columns only the
        audit needs. ``streams=(low, high)`` keeps the streams with low <= stream_id < high, compared
        as Python compares str (None: unbounded)."""
        ...

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """One stream's events in version order after ``after_version``."""
        ...

    def head(self) -> tuple[int, str]:
        """(last position, its hash) as recorded by the writer: 0 and the genesis hash when empty."""
        ...

    def count_events(self) -> int: ...

    def stream_ids(self, prefix: str) -> list[str]:
        """The ids, in order, of the streams (with a stored state) that start with ``prefix``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AuditReads(Protocol):
    """What the audit (``service.audit``) reads besides the log: each read bounded, whatever the
    ledger's size, so a full audit walks a ledger of millions in pages; and the head's signature,
    which ``stockmesh audit`` checks and (re)signs."""

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


@runtime_checkable
class ViewStore(Protocol):
    """Read models (``ledger.views.VIEWS``: rows by key) and the one checkpoint they are folded up
    to. Rows and checkpoint move together (``save_views``), so after a crash the read models are
    exactly those of the position the checkpoint names, and a catch-up resumes from there."""

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
        """key -> the row's other columns, for those of ``keys`` that have a row."""
        ...

    def save_views(self, changes: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...] | None]],
                   checkpoint: int) -> None:
        """Upsert (or delete, for ``None``) view rows and move the checkpoint, in one transaction."""
        ...

    def view_checkpoint(self) -> int:
        """The position the read models are folded up to (0: nothing folded)."""
        ...

    def reset_views(self) -> None:
        """Empty every read model and set the checkpoint to 0, in one transaction."""
        ...


@runtime_checkable
class OutboxStore(Protocol):
    """The transactional outbox as the relay (``service.outbox``) works it: messages are enqueued by
    ``WriteSession.append`` in the transaction of the events that caused them (once per message
    id), then read in enqueue order and marked delivered, retried or dead here."""

    def outbox_entries(self, *, status: str | None = "pending", due_before: str | None = None,
                       limit: int = 100, after_seq: int = 0) -> list[OutboxEntry]:
        """Messages after ``after_seq`` in enqueue order, of ``status`` (None: any); ``due_before``
        keeps those whose next attempt is due by then."""
        ...

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: str | None = None,
                      last_error: str | None = None, delivered_at: str | None = None) -> None:
        """Record the outcome of a delivery attempt of message ``seq``."""
        ...


@runtime_checkable
class EventStore(EventLog, AuditReads, ViewStore, OutboxStore, Protocol):
    """Everything every backend offers: the log, the audit's reads, the read models, the outbox.
    What ``bootstrap.open_store`` returns; a caller that needs less asks for the smaller port."""


@runtime_checkable
class Rebuildable(Protocol):
    """A backend whose read models can be rebuilt by several processes at once
    (``projections.parallel``): workers each fold a range of streams into *staging* read models,
    which then replace the live ones in one transaction. It needs a ledger other processes can
    open (``reopen_spec``), so SQLite and PostgreSQL offer it and memory does not."""

    def sample_stream_ids(self, count: int, upto: int | None = None) -> list[str]:
        """The streams of about ``count`` events spread evenly over the ledger (up to ``upto``): a
        stream appears about as often as its share of the events (where the ranges are cut)."""
        ...

    def prepare_staging(self, workers: int) -> Sequence[Rebuildable]:
        """Empty staging read models for ``workers`` workers (dropping any a crashed replay left
        behind); per worker, the store its folds write to (its ``reopen_spec`` opens the same)."""
        ...

    def swap_in_staging(self, checkpoint: int) -> None:
        """Replace every live read model by the staging ones and set the checkpoint, in one
        transaction: readers see the old read models or the new ones, never a mix."""
        ...

    def drop_staging(self) -> None:
        """Drop the staging read models (a replay that failed, or one killed before its swap)."""
        ...

    def staging_left(self) -> bool:
        """Whether staging read models exist (a replay running, or one killed before its swap)."""
        ...

    def reopen_spec(self) -> ReopenSpec:
        """How another process opens this store: (backend, args, kwargs), picklable."""
        ...
