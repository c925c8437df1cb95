"""Tampering as someone who can write the database does it: plain SQL on the ledger's tables."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from stockmesh.ledger.codec import chain_hash
from stockmesh.ledger.records import EVENT_COLUMNS, GENESIS_HASH
from stockmesh.ledger.sql import now_iso
from stockmesh.ledger.sqlite import SqliteEventStore
from tests.conftest import POSTGRES_URL

COLUMNS = ", ".join(EVENT_COLUMNS)
TABLES = ("events", "streams", "idempotency", "ledger_head", "view_checkpoint", "stock_positions", "lot_positions",
          "documents", "stock_snapshots")


class Raw:
    """Plain SQL on the store's tables, as an attacker with database access has it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.schema = getattr(store, "schema", None)
        if self.schema:
            import psycopg

            self.conn: Any = psycopg.connect(POSTGRES_URL, autocommit=True)
            self.conn.execute(f'SET search_path TO "{self.schema}"')
        else:
            self.conn = sqlite3.connect(store.path, isolation_level=None)

    def __call__(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.schema:
            statement = statement.replace("?", "%s")
        cur = self.conn.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []

    def head(self) -> tuple[int, str]:
        row = self("SELECT position, hash FROM ledger_head WHERE id = 1")[0]
        return int(row[0]), str(row[1])

    def rechain(self, start: int) -> None:
        """Recompute every hash from ``start`` on and move the head there (its signature stays: no key)."""
        prev = self("SELECT hash FROM events WHERE position = ?", (start - 1,))[0][0] if start > 1 else GENESIS_HASH
        rows = self("SELECT position, stream_id, version, type, schema_version, data, metadata, occurred_at, "
                    "recorded_at FROM events WHERE position >= ? ORDER BY position", (start,))
        for row in rows:
            digest = chain_hash(*row, prev)
            self("UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", (prev, digest, row[0]))
            prev = digest
        last = self("SELECT max(position) FROM events")[0][0] or 0
        self("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (last, prev))

    def append(self, stream_id: str, type_name: str, data: dict[str, Any], metadata: dict[str, Any]) -> int:
        """A forged event with a valid plain hash at the head, its stream's state row and the head moved."""
        position, prev = self.head()
        version = (self("SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,))[0][0] or 0) + 1
        now = now_iso()
        row = (position + 1, stream_id, version, type_name, 1, orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode(),
               orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS).decode(), now, now)
        digest = chain_hash(*row, prev)
        self(f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 11)})", (*row, prev, digest))
        self("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (position + 1, digest))
        self("DELETE FROM streams WHERE stream_id = ?", (stream_id,))
        self("INSERT INTO streams (stream_id, version, state) VALUES (?, ?, 'null')", (stream_id, version))
        return position + 1

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return {table: self(f"SELECT * FROM {table}") for table in TABLES}

    def restore(self, saved: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, rows in saved.items():
            self(f"DELETE FROM {table}")
            for row in rows:
                self(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)

    def position_of(self, stream_id: str, version: int) -> int:
        return int(self("SELECT position FROM events WHERE stream_id = ? AND version = ?", (stream_id, version))[0][0])

    def close(self) -> None:
        self.conn.close()


def reopen(store: Any) -> Any:
    """The same ledger in a new store object (a new process: no state cached from before the tampering)."""
    if getattr(store, "schema", None):
        from stockmesh.ledger.postgres import PostgresEventStore

        fresh: Any = PostgresEventStore(POSTGRES_URL, schema=store.schema)
    else:
        fresh = SqliteEventStore(store.path)
    fresh.head_key = store.head_key
    return fresh


