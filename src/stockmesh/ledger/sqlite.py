"""SQLite backend (the embedded default): one file, WAL journal, ``BEGIN IMMEDIATE`` as writer lock.

Connections are per thread (sqlite3 objects must not cross threads); processes share the file and
serialise on SQLite's own write lock, waiting up to ``busy_timeout``.
"""

from __future__ import annotations

import glob
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stockmesh.domain.errors import LedgerError
from stockmesh.ledger.records import GENESIS_HASH
from stockmesh.ledger.sql import STAGING_SUFFIX, SqlEventStore, SqlWriteSession, views_ddl
from stockmesh.ledger.views import VIEWS

_DDL = [
    """CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        stream_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        data TEXT NOT NULL,
        metadata TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream_id, version)",
    "CREATE TABLE IF NOT EXISTS streams (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "state TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, payload_hash TEXT NOT NULL, "
    "first_position INTEGER, last_position INTEGER, recorded_at TEXT NOT NULL, refusal TEXT) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS ledger_head (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL, "
    "hash TEXT NOT NULL, signature TEXT)",
    f"INSERT OR IGNORE INTO ledger_head (id, position, hash) VALUES (1, 0, '{GENESIS_HASH}')",
    "CREATE TABLE IF NOT EXISTS view_checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO view_checkpoint (id, position) VALUES (1, 0)",
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, "
    "topic TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL, "
    "attempts INTEGER NOT NULL, next_attempt_at TEXT, last_error TEXT, delivered_at TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq)",
]


class SqliteEventStore(SqlEventStore):
    ph = "?"
    integrity_errors = (sqlite3.IntegrityError,)
    def __init__(self, path: str, *, busy_timeout_s: float = 60.0, view_suffix: str = "") -> None:
        self.path = path
        self.view_suffix = view_suffix
        self.url = f"sqlite:///{path}"
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None

    def _committed(self) -> None:
        checkpointer = self._checkpointer
        if checkpointer is None and self.path != ":memory:":
            with self._lock:
                if self._checkpointer is None:
                    self._checkpointer = _Checkpointer(self.path, self.busy_timeout_s)
                    self._checkpointer.start()
                checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.dirty = True

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.path != ":memory:":
                parent = Path(self.path).parent
                if not parent.exists():
                    raise LedgerError(f"cannot open {self.url}: folder {parent} does not exist")
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
                conn.execute("PRAGMA cache_size=-65536")
                # No checkpoint inside a commit (it would stall that writer for milliseconds):
                # a background thread checkpoints passively instead, see _Checkpointer.
                conn.execute("PRAGMA wal_autocheckpoint=0")
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot open {self.url}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def init(self) -> None:
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _DDL + views_ddl("INTEGER"):
                conn.execute(statement)
            self.head_signature_column(conn.cursor(), add=True)  # a ledger from before signed heads
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerError(f"cannot initialise {self.url}: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[SqlWriteSession]:
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot start a write on {self.url}: {exc}") from exc
        cur = conn.cursor()
        try:
            yield SqlWriteSession(self, cur)
            conn.execute("COMMIT")
            self._committed()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    # Staging read models (parallel replay): tables VIEW_rebuild in the ledger's own file, as on
    # PostgreSQL (the base class creates and drops them). The workers' batches queue briefly for
    # SQLite's write lock; in exchange the swap is a rename, not a copy of every row.
    def staging_store(self) -> SqliteEventStore:
        return SqliteEventStore(self.path, busy_timeout_s=self.busy_timeout_s, view_suffix=STAGING_SUFFIX)

    def _staging_paths(self) -> list[Path]:
        """Files ``PATH.rebuild-N``: where replays before the staging tables kept their staging."""
        folder, name = Path(self.path).parent, Path(self.path).name
        return sorted(folder.glob(f"{glob.escape(name)}.rebuild-*"))

    def _remove_staging_files(self) -> None:
        for path in self._staging_paths():
            path.unlink(missing_ok=True)

    def prepare_staging(self, workers: int) -> list[SqlEventStore]:
        self._remove_staging_files()
        return super().prepare_staging(workers)

    def drop_staging(self) -> None:
        super().drop_staging()
        self._remove_staging_files()

    def staging_left(self) -> bool:
        names = [f"{view}{STAGING_SUFFIX}" for view in VIEWS]
        marks = ", ".join("?" * len(names))
        rows = self._query(f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", names)
        return bool(rows[0][0]) or bool(self._staging_paths())

    def swap_in_staging(self, checkpoint: int) -> None:
        """Put the staging read models in place of the live ones and set the checkpoint, in one
        transaction: readers see the old read models or the new ones, never a mix."""
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for view in VIEWS:
            statements += [(f"DROP TABLE {view}", ()), (f"ALTER TABLE {view}{STAGING_SUFFIX} RENAME TO {view}", ())]
        statements.append(("UPDATE view_checkpoint SET position = ? WHERE id = 1", (checkpoint,)))
        self._run_in_transaction(statements)
        self._committed()

    def reopen_spec(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        return ("sqlite", (self.path,), {"busy_timeout_s": self.busy_timeout_s, "view_suffix": self.view_suffix})

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        yield self.connection()

    def begin(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _query(self, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
        try:
            return super()._query(statement, params)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise LedgerError(f"{self.url} is not initialised: run `stockmesh init` first") from exc
            raise LedgerError(f"{self.url}: {exc}") from exc

    def _has_signature_column(self, cur: Any) -> bool:
        cur.execute("PRAGMA table_info(ledger_head)")
        return any(row[1] == "signature" for row in cur.fetchall())

    def integrity_check(self) -> str:
        return str(self.connection().execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


class _Checkpointer(threading.Thread):
    """Moves committed pages from the WAL into the database file, off the writers' path.

    Every half second, if anything was committed, it runs a PASSIVE checkpoint on a connection of
    its own: it never blocks a writer or a reader and gives up on pages a reader still needs (they
    go on the next round). SQLite itself checkpoints when the last connection closes.

    A PASSIVE checkpoint never rewinds the WAL, and under a writer that commits several times a
    second it never finds a moment when every frame is copied: the file only grows (2 GB over a
    year of the simulated network, measured). So once the WAL passes ``truncate_bytes`` it asks for
    a TRUNCATE checkpoint, waiting at most ``truncate_wait_ms`` for the writer to finish its
    transaction (writers wait for it meanwhile); if it cannot get in, it tries again next round."""

    truncate_bytes = 256 * 1024 * 1024
    truncate_wait_ms = 250

    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__(name=f"sqlite-checkpoint:{path}", daemon=True)
        self.path = path
        self.timeout_s = timeout_s
        self.dirty = False
        self.truncations = 0
        self._halt = threading.Event()

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(self.path + "-wal")
        except OSError:
            return 0

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            while not self._halt.wait(0.5):
                if self.dirty:
                    self.dirty = False
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        if self._wal_bytes() > self.truncate_bytes:
                            conn.execute(f"PRAGMA busy_timeout={self.truncate_wait_ms}")
                            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
                            if busy:
                                self.dirty = True  # not this time: the next round tries again
                            else:
                                self.truncations += 1
                    except sqlite3.Error:
                        self.dirty = True  # the next round tries again
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
