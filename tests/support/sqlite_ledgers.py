"""SQLite ledgers for the write-path tests: a generated workload file, a fresh store, and what a
write leaves in the tables, without the times and hashes that depend on when it ran (the workload's
commands carry no business time, so theirs is the time of the write too)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from benchmarks.ledger.config import BenchConfig
from benchmarks.ledger.workload import build_workload
from stockmesh.ledger.sqlite import SqliteEventStore


def workload(tmp_path: Path, events: int = 3_000) -> Path:
    cfg = BenchConfig(skus=25, sites=4, single=1, reserve=1)
    return build_workload(tmp_path / "w.jsonl", cfg, events, seed=5).path


def fresh_store(tmp_path: Path, name: str) -> SqliteEventStore:
    store = SqliteEventStore(str(tmp_path / f"{name}.db"))
    store.init()
    return store


def ledger_contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {
            "events": conn.execute("SELECT position, stream_id, version, type, schema_version, data, metadata "
                                   "FROM events ORDER BY position").fetchall(),
            "keys": conn.execute("SELECT key, payload_hash, first_position, last_position, refusal FROM idempotency "
                                 "ORDER BY key").fetchall(),
            "streams": conn.execute("SELECT stream_id, version, state FROM streams ORDER BY stream_id").fetchall(),
            "head": conn.execute("SELECT position FROM ledger_head").fetchall(),
        }
