"""What SQLite and PostgreSQL share: the statements, the append algorithm, the read-model tables.

Each backend module subclasses ``SqlEventStore`` with its driver, its DDL and its writer lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.errors import ConcurrencyError
from stockmesh.ledger.chain import check_head, seal_into, sign_head
from stockmesh.ledger.port import EventStore, Rebuildable
from stockmesh.ledger.records import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    IDEMPOTENCY_COLUMNS,
    OUTBOX_COLUMNS,
    IdempotencyRecord,
    NewEvent,
    OutboxEntry,
    OutboxMessage,
    RecordedEvent,
)
from stockmesh.ledger.views import VIEWS

_EVENT_SELECT = "SELECT " + ", ".join(EVENT_COLUMNS) + " FROM events"
_CHUNK = 500  # keys per IN (...) lookup
STAGING_SUFFIX = "_rebuild"


# Now in UTC, ISO 8601 with microseconds, as every write stamps it: the system clock's cached
# formatter (domain/clock.py), bound once so a write pays one call.
now_iso = SYSTEM_CLOCK.now_iso


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqlWriteSession:
    """One write transaction. The store has taken the writer lock before this is handed out."""

    def __init__(self, store: SqlEventStore, cursor: Any, *, migrate: bool = True) -> None:
        self.store = store
        self.cur = cursor
        # ``migrate``: add the head's signature column to a ledger made before it, once per store
        # (``init`` does it too); False for a session that only reads (``ledger.bulk.writer``'s caller).
        has_signature = store.head_signature_column(cursor, add=migrate)
        row = self._fetchone("SELECT position, hash" + (", signature" if has_signature else "")
                             + " FROM ledger_head WHERE id = 1")
        self.head_position: int = row[0] if row else 0
        self.head_hash: str = row[1] if row else GENESIS_HASH
        self.opened_at = self.head_position
        # A keyed writer extends only a head signed with its key, so a forged head is never signed over.
        # A head this store signed itself (the common case) needs no second HMAC: one per commit.
        signature = row[2] if row and has_signature else None
        if (store.head_key, self.head_position, self.head_hash, signature) != store._signed_last:
            check_head(store.head_key, self.head_position, self.head_hash, signature)
        # Refusal records (records.IdempotencyRecord) need the idempotency table's refusal column:
        # added, like the signature, to a ledger made before it.
        self.keeps_refusals = store.idempotency_refusal_column(cursor, add=migrate)

    def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cur.execute(self.store.sql(sql), params)
        return self.cur.fetchone()

    def _select_in(self, select: str, column: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        """Rows of ``select`` whose ``column`` is one of ``keys``, a chunk of keys per query."""
        wanted = list(dict.fromkeys(keys))
        if len(wanted) == 1:  # a single command's lookup: the plainest statement
            self.cur.execute(self.store.sql(f"{select} WHERE {column} = ?"), wanted)
            return list(self.cur.fetchall())
        rows: list[tuple[Any, ...]] = []
        for part in chunks(wanted):
            marks = ", ".join([self.store.ph] * len(part))
            self.cur.execute(f"{select} WHERE {column} IN ({marks})", part)
            rows += self.cur.fetchall()
        return rows

    def load_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        rows = self._select_in("SELECT stream_id, version, state FROM streams", "stream_id", stream_ids)
        return {stream_id: (version, state) for stream_id, version, state in rows}

    def find_idempotency(self, keys: Iterable[str]) -> dict[str, IdempotencyRecord]:
        columns = IDEMPOTENCY_COLUMNS if self.keeps_refusals else IDEMPOTENCY_COLUMNS[:-1]
        rows = self._select_in(f"SELECT {', '.join(columns)} FROM idempotency", "key", keys)
        return {row[0]: IdempotencyRecord(*row) for row in rows}

    def append(self, events: Sequence[NewEvent], states: Mapping[str, tuple[int, str]],
               idempotency: Sequence[IdempotencyRecord], expected_versions: Mapping[str, int],
               outbox: Sequence[OutboxMessage] = (), recorded_at: str | None = None) -> None:
        self.append_events(events, dict(expected_versions), recorded_at or self.store.clock.now_iso())
        self.finish(states, idempotency, outbox)

    def append_events(self, events: Sequence[NewEvent] | Sequence[tuple[Any, ...]], versions: dict[str, int],
                      recorded_at: str) -> None:
        """Seal ``events`` onto the head and insert them (``versions``: see ``seal_into``). A batch
        may come in parts; ``finish`` then writes the rest of it."""
        rows = seal_into(events, versions, self.head_position, self.head_hash, recorded_at)
        if not rows:
            return
        with self._clashes_as_concurrency():
            self.store.insert_events(self.cur, rows)
        self.head_position, self.head_hash = rows[-1][0], rows[-1][-1]

    def insert_keys(self, idempotency: Sequence[IdempotencyRecord] | Sequence[tuple[Any, ...]]) -> None:
        """Record idempotency keys (a batch may give them in parts, as ``append_events`` its events)."""
        if not idempotency:
            return
        ph = self.store.ph
        with self._clashes_as_concurrency():
            self.cur.executemany(
                f"INSERT INTO idempotency ({', '.join(IDEMPOTENCY_COLUMNS)}) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})",
                idempotency)

    def finish(self, states: Mapping[str, tuple[int, str]], idempotency: Sequence[IdempotencyRecord],
               outbox: Sequence[OutboxMessage] = ()) -> None:
        """Save the stream states, (the rest of the) idempotency keys and outbox messages of the
        batch, and the new head when events were appended."""
        self.insert_keys(idempotency)
        with self._clashes_as_concurrency():
            if states:
                self.cur.executemany(
                    self.store.sql(
                        "INSERT INTO streams (stream_id, version, state) VALUES (?, ?, ?) "
                        "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, state = excluded.state"),
                    [(sid, v, s) for sid, (v, s) in states.items()])
            if outbox:
                self.cur.executemany(
                    self.store.sql("INSERT INTO outbox (message_id, topic, payload, created_at, status, attempts) "
                                   "VALUES (?, ?, ?, ?, 'pending', 0) ON CONFLICT (message_id) DO NOTHING"),
                    outbox)
            if self.head_position != self.opened_at:
                key = self.store.head_key  # one HMAC per commit: the signed head
                signature = sign_head(key, self.head_position, self.head_hash) if key is not None else None
                self.cur.execute(
                    self.store.sql("UPDATE ledger_head SET position = ?, hash = ?, signature = ? WHERE id = 1"),
                    (self.head_position, self.head_hash, signature))
                if key is not None:  # if this commits, the next session here finds exactly this head
                    self.store._signed_last = (key, self.head_position, self.head_hash, signature)

    @contextmanager
    def _clashes_as_concurrency(self) -> Iterator[None]:
        """A unique-key clash (stream version, idempotency key) means another writer got there first."""
        try:
            yield
        except self.store.integrity_errors as exc:
            raise ConcurrencyError(f"concurrent append rejected by the ledger: {exc}") from exc


class SqlEventStore(EventStore, Rebuildable):
    """Shared SQL for the relational backends. Subclasses provide the driver specifics. Both are
    ``Rebuildable``: other processes open the same file or database (``reopen_spec``)."""

    url: str
    ph: str = "?"
    integrity_errors: tuple[type[BaseException], ...] = ()
    # Read models go to tables named VIEW + view_suffix: "" for the live ones; a parallel replay's
    # workers fold into staging tables (STAGING_SUFFIX) that are swapped in at the end.
    view_suffix: str = ""
    integer_type: str = "INTEGER"
    # How stream ids compare in SQL the way Python compares str (code points): ranges of streams
    # computed in Python must select the same rows (PostgreSQL compares text by its collation).
    binary_stream_id: str = "+stream_id"  # SQLite: BINARY; the + keeps the planner on the position order
    head_key: bytes | None = None  # the key that signs every new head (chain.sign_head); None: unsigned
    clock: Clock = SYSTEM_CLOCK  # stamps recorded_at; bootstrap may hand another (tests, the twin)
    _head_signature_ready = False  # the ledger_head table is known to have its signature column
    _signed_last: tuple[bytes | None, int, str, str | None] | None = None  # (key, position, hash, signature)
    _refusal_column_ready = False  # the idempotency table is known to have its refusal column

    # -- driver hooks ---------------------------------------------------------------------------
    def borrow(self) -> AbstractContextManager[Any]:
        """A connection for one operation (SQLite: this thread's own; PostgreSQL: one from the pool)."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[SqlWriteSession]:
        raise NotImplementedError

    def insert_events(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.ph] * len(EVENT_COLUMNS))
        cur.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", rows)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one ordinary write transaction (``begin``), committed when the block ends,
        rolled back if it raises."""
        with self.borrow() as conn:
            cur = conn.cursor()
            try:
                self.begin(cur)
                yield cur
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()

    def sql(self, statement: str) -> str:
        return statement if self.ph == "?" else statement.replace("?", self.ph)

    # -- reads ----------------------------------------------------------------------------------
    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.borrow() as conn:
            cur = conn.cursor()
            try:
                cur.execute(self.sql(statement), params)
                rows: list[tuple[Any, ...]] = cur.fetchall()
                return rows
            finally:
                cur.close()

    def read_all(self, after: int = 0, limit: int | None = None) -> Iterator[RecordedEvent]:
        page = 20_000
        position = after
        remaining = limit
        while True:
            size = page if remaining is None else min(page, remaining)
            if size <= 0:
                return
            rows = self._query(f"{_EVENT_SELECT} WHERE position > ? ORDER BY position LIMIT {size}", (position,))
            for row in rows:
                yield RecordedEvent(*row)
            if len(rows) < size:
                return
            position = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def read_fold_rows(self, after: int = 0, limit: int = 50_000, *, upto: int | None = None,
                       streams: tuple[str | None, str | None] | None = None
                       ) -> list[tuple[int, str, str, int, str, str]]:
        sql = "SELECT position, stream_id, type, schema_version, data, occurred_at FROM events WHERE position > ?"
        params: list[Any] = [after]
        if upto is not None:
            sql += " AND position <= ?"
            params.append(upto)
        low, high = streams or (None, None)
        if low is not None:
            sql += f" AND {self.binary_stream_id} >= ?"
            params.append(low)
        if high is not None:
            sql += f" AND {self.binary_stream_id} < ?"
            params.append(high)
        return self._query(f"{sql} ORDER BY position LIMIT {int(limit)}", params)

    def sample_stream_ids(self, count: int, upto: int | None = None) -> list[str]:
        last = self.head()[0] if upto is None else upto
        if last <= 0:
            return []
        step = max(1, last // max(1, count))
        # positions step, 2 step, ... looked up by key: a few thousand reads, whatever the ledger's size
        rows = self._query(
            "WITH RECURSIVE picks(p) AS (SELECT ? UNION ALL SELECT p + ? FROM picks WHERE p + ? <= ?) "
            "SELECT e.stream_id FROM picks JOIN events e ON e.position = picks.p", (step, step, step, last))
        return [r[0] for r in rows]

    def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        rows = self._query(f"{_EVENT_SELECT} WHERE stream_id = ? AND version > ? ORDER BY version",
                           (stream_id, after_version))
        return [RecordedEvent(*r) for r in rows]

    def head(self) -> tuple[int, str]:
        rows = self._query("SELECT position, hash FROM ledger_head WHERE id = 1")
        return (rows[0][0], rows[0][1]) if rows else (0, GENESIS_HASH)

    # -- what the audit reads (service.audit) ----------------------------------------------------
    def read_by_stream(self, after: tuple[str, int] | None = None, limit: int = 20_000
                       ) -> list[tuple[str, int, int, str, int, str]]:
        """Events in (stream, version) order after ``after``: (stream_id, version, position, type,
        schema_version, data). One stream at a time, along the (stream_id, version) index."""
        sql = "SELECT stream_id, version, position, type, schema_version, data FROM events"
        params: tuple[Any, ...] = ()
        if after is not None:
            sql += " WHERE (stream_id, version) > (?, ?)"
            params = after
        return self._query(f"{sql} ORDER BY stream_id, version LIMIT {int(limit)}", params)

    def stored_states(self, stream_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        """The ``streams`` rows (version, encoded state) of these streams, as a write would load them."""
        out: dict[str, tuple[int, str]] = {}
        for part in chunks(list(dict.fromkeys(stream_ids))):
            marks = ", ".join("?" * len(part))
            for sid, version, state in self._query(
                    f"SELECT stream_id, version, state FROM streams WHERE stream_id IN ({marks})", part):
                out[sid] = (version, state)
        return out

    def streams_without_events(self, limit: int = 100) -> list[str]:
        """``streams`` rows of streams that have no event at all."""
        rows = self._query("SELECT stream_id FROM streams s WHERE NOT EXISTS "
                           f"(SELECT 1 FROM events e WHERE e.stream_id = s.stream_id) ORDER BY stream_id LIMIT {limit}")
        return [r[0] for r in rows]

    def idempotency_spans(self, keys: Iterable[str] | None = None, *, after: str | None = None,
                          limit: int = 20_000) -> list[tuple[str, int | None, int | None]]:
        """(key, first_position, last_position) of the records of ``keys``; with ``keys`` None, the
        next ``limit`` records in key order after ``after``."""
        select = "SELECT key, first_position, last_position FROM idempotency"
        if keys is None:
            if after is None:
                return self._query(f"{select} ORDER BY key LIMIT {int(limit)}")
            return self._query(f"{select} WHERE key > ? ORDER BY key LIMIT {int(limit)}", (after,))
        rows: list[tuple[str, int | None, int | None]] = []
        for part in chunks(list(dict.fromkeys(keys))):
            rows += self._query(f"{select} WHERE key IN ({', '.join('?' * len(part))})", part)
        return rows

    def metadata_at(self, positions: Iterable[int]) -> dict[int, str]:
        """The stored metadata of the events at these positions (absent positions are left out)."""
        out: dict[int, str] = {}
        for part in chunks(sorted(set(positions))):
            marks = ", ".join("?" * len(part))
            for position, metadata in self._query(
                    f"SELECT position, metadata FROM events WHERE position IN ({marks})", part):
                out[position] = metadata
        return out

    # -- the signed head ------------------------------------------------------------------------
    def _has_signature_column(self, cur: Any) -> bool:
        raise NotImplementedError

    def head_signature_column(self, cur: Any, *, add: bool) -> bool:
        """Whether ledger_head has its signature column; with ``add``, add it when missing (in the
        caller's transaction). Checked once per store."""
        if self._head_signature_ready:
            return True
        present = self._has_signature_column(cur)
        if not present and add:
            cur.execute("ALTER TABLE ledger_head ADD COLUMN signature TEXT")
            present = True
        self._head_signature_ready = present
        return present

    def idempotency_refusal_column(self, cur: Any, *, add: bool) -> bool:
        """Whether the idempotency table has its refusal column (refused commands' records); with
        ``add``, add it when missing (in the caller's transaction). Checked once per store."""
        if self._refusal_column_ready:
            return True
        cur.execute("SELECT * FROM idempotency WHERE 1 = 0")
        present = "refusal" in [d[0] for d in cur.description]
        if not present and add:
            cur.execute("ALTER TABLE idempotency ADD COLUMN refusal TEXT")
            present = True
        self._refusal_column_ready = present
        return present

    def head_signature(self) -> str | None:
        """The stored signature of the head (None: unsigned, or a ledger from before signatures)."""
        with self.borrow() as conn:
            cur = conn.cursor()
            try:
                if not self.head_signature_column(cur, add=False):
                    return None
                cur.execute("SELECT signature FROM ledger_head WHERE id = 1")
                row = cur.fetchone()
            finally:
                cur.close()
        return row[0] if row else None

    def set_head_signature(self, position: int, head_hash: str, signature: str) -> bool:
        """Sign the head if it still is (position, hash): False if a write moved it meanwhile."""
        with self.transaction() as cur:
            self.head_signature_column(cur, add=True)
            cur.execute(self.sql("UPDATE ledger_head SET signature = ? WHERE id = 1 AND position = ? AND hash = ?"),
                        (signature, position, head_hash))
            return bool(cur.rowcount == 1)

    def count_events(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    def stream_ids(self, prefix: str) -> list[str]:
        rows = self._query("SELECT stream_id FROM streams WHERE stream_id >= ? AND stream_id < ? ORDER BY stream_id",
                           (prefix, prefix + "\uffff"))
        return [r[0] for r in rows]

    # -- read models ----------------------------------------------------------------------------
    def load_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                  after: tuple[str, Any] | None = None, until: tuple[str, Any] | None = None,
                  since: tuple[str, Any] | None = None, any_of: Mapping[str, Collection[Any]] | None = None,
                  after_key: tuple[Any, ...] | None = None, limit: int | None = None,
                  offset: int = 0) -> list[tuple[Any, ...]]:
        spec = VIEWS[view]
        conditions = [(c, "=", v) for c, v in (where or {}).items()]
        if after is not None:
            conditions.append((after[0], ">", after[1]))
        if until is not None:
            conditions.append((until[0], "<=", until[1]))
        if since is not None:
            conditions.append((since[0], ">=", since[1]))
        clauses, params = self._view_conditions(spec.all_columns, conditions, any_of)
        if after_key is not None:
            if len(after_key) != len(spec.key):
                raise KeyError(f"after_key needs {len(spec.key)} values: {', '.join(spec.key)}")
            clauses.append(f"({', '.join(spec.key)}) > ({', '.join('?' * len(spec.key))})")
            params.extend(after_key)
        sql = f"SELECT {', '.join(spec.all_columns)} FROM {view}{self.view_suffix}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY " + ", ".join(spec.key)
        if limit is not None or offset:
            sql += f" LIMIT {int(limit) if limit is not None else -1 if self.ph == '?' else 'ALL'} OFFSET {int(offset)}"
        return self._query(sql, params)

    def count_view(self, view: str, where: Mapping[str, Any] | None = None, *,
                   any_of: Mapping[str, Collection[Any]] | None = None) -> int:
        spec = VIEWS[view]
        clauses, params = self._view_conditions(spec.all_columns, [(c, "=", v) for c, v in (where or {}).items()],
                                                any_of)
        sql = f"SELECT COUNT(*) FROM {view}{self.view_suffix}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return int(self._query(sql, params)[0][0])

    @staticmethod
    def _view_conditions(columns: tuple[str, ...], conditions: list[tuple[str, str, Any]],
                         any_of: Mapping[str, Collection[Any]] | None) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, op, value in conditions:
            if column not in columns:
                raise KeyError(column)
            clauses.append(f"{column} {op} ?")
            params.append(value)
        for column, values in (any_of or {}).items():
            if column not in columns:
                raise KeyError(column)
            wanted = list(dict.fromkeys(values))
            clauses.append(f"{column} IN ({', '.join('?' * len(wanted))})" if wanted else "1 = 0")
            params.extend(wanted)
        return clauses, params

    def load_view_rows(self, view: str, keys: Iterable[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        spec = VIEWS[view]
        wanted = list(dict.fromkeys(keys))
        out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        width = len(spec.key)
        for part in chunks(wanted, 300):
            cond = " OR ".join(
                "(" + " AND ".join(f"{k} = ?" for k in spec.key) + ")" for _ in part)
            params = [v for key in part for v in key]
            for row in self._query(f"SELECT {', '.join(spec.all_columns)} FROM {view}{self.view_suffix} WHERE {cond}",
                                   params):
                out[tuple(row[:width])] = tuple(row[width:])
        return out

    def save_views(self, changes: Mapping[str, Mapping[tuple[Any, ...], tuple[Any, ...] | None]],
                   checkpoint: int) -> None:
        with self.transaction() as cur:
            for view, rows in changes.items():
                spec = VIEWS[view]
                upserts = [key + value for key, value in rows.items() if value is not None]
                deletes = [key for key, value in rows.items() if value is None]
                if deletes:
                    cond = " AND ".join(f"{k} = ?" for k in spec.key)
                    cur.executemany(self.sql(f"DELETE FROM {view}{self.view_suffix} WHERE {cond}"), deletes)
                if upserts:
                    cols = spec.all_columns
                    updates = ", ".join(f"{c} = excluded.{c}" for c in spec.columns)
                    cur.executemany(
                        self.sql(f"INSERT INTO {view}{self.view_suffix} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                                 f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {updates}"),
                        upserts)
            if not self.view_suffix:  # staging tables have no checkpoint: the swap sets the live one
                cur.execute(self.sql("UPDATE view_checkpoint SET position = ? WHERE id = 1"), (checkpoint,))

    # -- staging read models (parallel replay) ----------------------------------------------------
    # Tables VIEW_rebuild beside the live ones, shared by the workers (each writes its own streams'
    # rows). The backends say how they are swapped in (SQLite: rename; PostgreSQL: copy).
    def staging_store(self) -> SqlEventStore:
        """The same ledger, with read models in the staging tables (a fresh store object)."""
        raise NotImplementedError

    def reopen_spec(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """How another process opens this store: (backend, args, kwargs), picklable."""
        raise NotImplementedError

    def _run_in_transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self.transaction() as cur:
            for statement, params in statements:
                cur.execute(self.sql(statement), params)

    def prepare_staging(self, workers: int) -> list[SqlEventStore]:
        """Empty staging read models for ``workers`` workers (dropping any a crashed replay left
        behind); returns, per worker, the store its folds write to."""
        drops = [(f"DROP TABLE IF EXISTS {view}{STAGING_SUFFIX}", ()) for view in VIEWS]
        self._run_in_transaction(drops + [(ddl, ()) for ddl in views_ddl(self.integer_type, STAGING_SUFFIX)])
        return [self.staging_store() for _ in range(workers)]

    def drop_staging(self) -> None:
        self._run_in_transaction([(f"DROP TABLE IF EXISTS {view}{STAGING_SUFFIX}", ()) for view in VIEWS])

    def staging_left(self) -> bool:
        """Whether staging read models exist (a replay running, or one killed before its swap)."""
        rows = self._query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return any(str(r[0]).endswith(STAGING_SUFFIX) for r in rows)

    def swap_in_staging(self, checkpoint: int) -> None:
        """Replace every live read model by the staging ones, and set the checkpoint, in one
        transaction: readers see the old read models or the new ones, never a mix."""
        statements: list[tuple[str, Sequence[Any]]] = []
        for view, spec in VIEWS.items():
            columns = ", ".join(spec.all_columns)
            statements += [(f"DELETE FROM {view}", ()),
                           (f"INSERT INTO {view} ({columns}) SELECT {columns} FROM {view}{STAGING_SUFFIX}", ()),
                           (f"DROP TABLE {view}{STAGING_SUFFIX}", ())]
        statements.append(("UPDATE view_checkpoint SET position = ? WHERE id = 1", (checkpoint,)))
        self._run_in_transaction(statements)

    # -- outbox ---------------------------------------------------------------------------------
    def outbox_entries(self, *, status: str | None = "pending", due_before: str | None = None,
                       limit: int = 100, after_seq: int = 0) -> list[OutboxEntry]:
        """Outbox messages in enqueue order; ``due_before`` keeps those whose next attempt is due."""
        sql = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox WHERE seq > ?"
        params: list[Any] = [after_seq]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if due_before is not None:
            sql += " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            params.append(due_before)
        sql += f" ORDER BY seq LIMIT {int(limit)}"
        return [OutboxEntry(*r) for r in self._query(sql, params)]

    def outbox_update(self, seq: int, *, status: str, attempts: int, next_attempt_at: str | None = None,
                      last_error: str | None = None, delivered_at: str | None = None) -> None:
        with self.transaction() as cur:
            cur.execute(self.sql("UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, "
                                 "delivered_at = ? WHERE seq = ?"),
                        (status, attempts, next_attempt_at, last_error, delivered_at, seq))

    def begin(self, cur: Any) -> None:
        """Start an ordinary write transaction (the writer lock is not needed for read models)."""

    def view_checkpoint(self) -> int:
        rows = self._query("SELECT position FROM view_checkpoint WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def reset_views(self) -> None:
        with self.transaction() as cur:
            for view in VIEWS:
                cur.execute(f"DELETE FROM {view}{self.view_suffix}")
            cur.execute("UPDATE view_checkpoint SET position = 0 WHERE id = 1")


def views_ddl(integer_type: str, suffix: str = "") -> list[str]:
    out = []
    for spec in VIEWS.values():
        cols = ", ".join(f"{c} {integer_type if c in spec.integer else 'TEXT'}" for c in spec.all_columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {spec.name}{suffix} ({cols}, PRIMARY KEY ({', '.join(spec.key)}))")
    return out
