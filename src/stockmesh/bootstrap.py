"""Settings -> store: the one place a ledger URL becomes an event store.

Nothing connects at import time; ``open_store`` is called by the entry points with a URL from
``--db`` or ``STOCKMESH_DB``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from stockmesh.domain.clock import Clock
from stockmesh.domain.errors import InvalidInput, LedgerError
from stockmesh.ledger.port import EventStore, ReopenSpec

DEFAULT_DB = "sqlite:///stockmesh.db"
LEDGER_TABLE = "ledger_head"  # every ledger has it from `init` on; a database without it holds no ledger


class LedgerMissing(LedgerError):
    """The URL names no ledger (no file, or a database without our tables), and we were not asked
    to create one: a mistyped path must not become a new, empty ledger."""

    def __init__(self, url: str, why: str) -> None:
        self.url = url
        super().__init__(f"no ledger at {url} ({why}); create one with stockmesh init --db {url}")


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("STOCKMESH_DB") or DEFAULT_DB


def sqlite_path(url: str) -> str:
    path = url.removeprefix("sqlite:///")
    if not path:
        raise InvalidInput("sqlite URL needs a path, e.g. sqlite:///stockmesh.db", field="db")
    return path


def sqlite_has_ledger(path: str) -> str | None:
    """Why the SQLite file at ``path`` holds no ledger, or None if it holds one; ``LedgerError`` if
    it is no database. Creates nothing: the file is opened with ``mode=rw`` (sqlite3.connect alone
    would create it)."""
    if path == ":memory:":
        return None
    if not Path(path).is_file():
        return "no such file" if not Path(path).exists() else "not a file"
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True)
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (LEDGER_TABLE,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:  # not a database at all: `init` could not make it one either
        raise LedgerError(f"cannot open sqlite:///{path}: {exc}") from exc
    return None if found else "the file has no ledger tables"


def open_store(url: str | None = None, *, create: bool = True, clock: Clock | None = None) -> EventStore:
    """Open the store a URL names: ``sqlite:///path``, ``postgresql://...`` or ``memory://``.

    ``create=False``: the ledger must exist already, else ``LedgerMissing`` (and no file or table
    is made). ``memory://`` is always a new ledger. An existing ledger is brought up to the current
    schema either way (``init`` only creates what is missing)."""
    url = database_url(url)
    store: EventStore
    if url.startswith("memory://"):
        from stockmesh.ledger.memory import MemoryEventStore

        store = MemoryEventStore()
    elif url.startswith("sqlite:///"):
        from stockmesh.ledger.sqlite import SqliteEventStore

        path = sqlite_path(url)
        if not create and (why := sqlite_has_ledger(path)) is not None:
            raise LedgerMissing(url, why)
        store = SqliteEventStore(path)
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            from stockmesh.ledger.postgres import PostgresEventStore
        except ImportError as exc:  # the [pg] extra is not installed
            raise InvalidInput("PostgreSQL needs the [pg] extra: pip install 'stockmesh[pg]'", field="db") from exc
        pg = PostgresEventStore(url)
        if not create and not postgres_has_ledger(pg):
            pg.close()
            raise LedgerMissing(url, "the database has no ledger tables")
        store = pg
    else:
        raise InvalidInput(f"unsupported database URL {url!r}: use sqlite:///PATH, postgresql://... or memory://",
                           field="db")
    from stockmesh.ledger.chain import key_from_env

    try:
        store.head_key = key_from_env()  # STOCKMESH_LEDGER_KEY_FILE: every write signs the new head
        if clock is not None:
            store.clock = clock  # stamps every write's recorded_at (default: the system clock)
        store.init()
    except BaseException:
        store.close()
        raise
    return store


def open_spec(spec: ReopenSpec) -> EventStore:
    """Open the store a ``reopen_spec()`` names, as it is (no ``init``, no key): how the workers of
    a parallel replay, fresh processes, open the ledger and their staging read models
    (``projections.rebuild.replay(..., open_spec=open_spec)``)."""
    backend, args, kwargs = spec
    if backend == "sqlite":
        from stockmesh.ledger.sqlite import SqliteEventStore

        return SqliteEventStore(*args, **kwargs)
    if backend == "postgresql":
        from stockmesh.ledger.postgres import PostgresEventStore

        return PostgresEventStore(*args, **kwargs)
    raise LedgerError(f"cannot open a {backend} store in another process")


def postgres_has_ledger(store: object) -> bool:
    """Whether the PostgreSQL database (the store's schema, else its search path) holds our tables."""
    import psycopg

    try:
        with store.borrow() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (LEDGER_TABLE,))
            row = cur.fetchone()
    except psycopg.Error as exc:
        raise LedgerError(f"cannot read {store.url}: {exc}") from exc  # type: ignore[attr-defined]
    return bool(row and row[0])
