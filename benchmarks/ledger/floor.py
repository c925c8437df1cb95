"""The floor: what the same rows cost with raw ``sqlite3`` and nothing of ours on top."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import time
from pathlib import Path

EVENT_COLUMNS = ("position", "stream_id", "version", "type", "schema_version", "data", "metadata",
                 "occurred_at", "recorded_at", "prev_hash", "hash")

FLOOR_DDL = (
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
        schema_version INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version)",
)


def floor_executemany(source_db: Path, target_db: Path, *, upto: int, chunk: int = 100_000) -> tuple[int, float]:
    """Insert the rows ``position <= upto`` of ``source_db`` into a fresh ``target_db`` with one
    ``executemany`` per chunk, in one transaction (WAL, synchronous=NORMAL, the store's page cache).

    Only the inserts and the commit are timed, not reading the rows. Returns (rows, seconds)."""
    src = sqlite3.connect(source_db)
    dst = sqlite3.connect(target_db, isolation_level=None)
    try:
        dst.execute("PRAGMA journal_mode=WAL")
        dst.execute("PRAGMA synchronous=NORMAL")
        dst.execute("PRAGMA cache_size=-65536")
        for statement in FLOOR_DDL:
            dst.execute(statement)
        insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        cur = src.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE position <= ? ORDER BY position",
                          (upto,))
        rows_total = 0
        gc.collect()
        started = time.perf_counter()
        dst.execute("BEGIN")
        elapsed = time.perf_counter() - started
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                break
            started = time.perf_counter()
            dst.executemany(insert, rows)
            elapsed += time.perf_counter() - started
            rows_total += len(rows)
        started = time.perf_counter()
        dst.execute("COMMIT")
        elapsed += time.perf_counter() - started
        return rows_total, elapsed
    finally:
        src.close()
        dst.close()


def floor_single(source_db: Path, target_db: Path, *, first: int, count: int) -> tuple[int, float]:
    """The SQL a single-command write issues, and nothing else: on a copy of the run's ledger, per
    event (the run's own single-command events, in order) one transaction of BEGIN IMMEDIATE, the
    head read, the idempotency lookup, the event insert, the stream-state upsert, the idempotency
    insert, the head update and COMMIT, with every value computed beforehand. What our Python adds
    on top of this is the cost of deciding, hashing and encoding. Returns (events, seconds)."""
    shutil.copyfile(source_db, target_db)
    conn = sqlite3.connect(target_db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE position >= ? ORDER BY position "
                            f"LIMIT ?", (first, count)).fetchall()
        head = conn.execute("SELECT position FROM ledger_head WHERE id = 1").fetchone()[0]
        versions: dict[str, int] = {}
        prepared = []
        for i, row in enumerate(rows):
            stream = row[1] + "~floor"
            versions[stream] = versions.get(stream, 0) + 1
            prepared.append(((head + i + 1, stream, versions[stream], *row[3:]), f"floor-{i}",
                             (stream, versions[stream], '{"on_hand":1,"reserved":0}')))
        insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        upsert = ("INSERT INTO streams (stream_id, version, state) VALUES (?, ?, ?) ON CONFLICT (stream_id) "
                  "DO UPDATE SET version = excluded.version, state = excluded.state")
        keyed = ("INSERT INTO idempotency (key, payload_hash, first_position, last_position, recorded_at) "
                 "VALUES (?, ?, ?, ?, ?)")
        gc.collect()
        started = time.perf_counter()
        for event, key, state in prepared:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.cursor()
            cur.execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone()
            cur.execute("SELECT key, payload_hash, first_position, last_position, recorded_at FROM idempotency "
                        "WHERE key IN (?)", (key,)).fetchall()
            cur.execute(insert, event)
            cur.execute(upsert, state)
            cur.execute(keyed, (key, "0" * 32, event[0], event[0], event[8]))
            cur.execute("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (event[0], event[-1]))
            conn.execute("COMMIT")
            cur.close()
        return len(prepared), time.perf_counter() - started
    finally:
        conn.close()
