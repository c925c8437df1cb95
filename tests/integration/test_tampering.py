"""Tamper evidence: modify, delete, insert or reorder a stored event at a random position and the
chain check fails at exactly that position, 200 times out of 200."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.execute import execute
from tests.support.commands import SKU, STORE, c, network

COLUMNS = "position, stream_id, version, type, schema_version, data, metadata, occurred_at, recorded_at, " \
          "prev_hash, hash"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "pristine.db"
    store = SqliteEventStore(str(path))
    store.init()
    execute(store, network())
    for day in range(1, 60):
        execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=10 + day,
                          occurred_at=f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}"),
                        c("ShipStock", sku=SKU, site=STORE, qty=5 + day % 4)])
    store.close()
    return path


def tamper(conn: sqlite3.Connection, kind: str, rng: random.Random, n: int) -> int:
    """Apply one kind of tampering; return the position where the chain must first break."""
    p = rng.randint(1, n)
    if kind == "modify":
        column = rng.choice(["data", "metadata", "occurred_at", "type", "stream_id", "recorded_at"])
        conn.execute(f"UPDATE events SET {column} = {column} || ' ' WHERE position = ?", (p,))
        return p
    if kind == "delete":
        conn.execute("DELETE FROM events WHERE position = ?", (p,))
        return p
    if kind == "insert":
        # A forged event slipped in at p: later rows are renumbered to make room.
        conn.execute("UPDATE events SET position = -position - 1 WHERE position >= ?", (p,))
        conn.execute("UPDATE events SET position = -position WHERE position < 0")
        source = conn.execute(f"SELECT {COLUMNS} FROM events WHERE position = ?", (p + 1,)).fetchone()
        forged = (p, source[1], 10_000 + p, *source[3:5], '{"qty":1000}', *source[6:])
        conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 11)})", forged)
        return p
    # reorder: two events swap places (everything but their positions)
    q = rng.randint(1, n)
    while q == p:
        q = rng.randint(1, n)
    first, second = sorted((p, q))
    rows = {pos: conn.execute(f"SELECT {COLUMNS} FROM events WHERE position = ?", (pos,)).fetchone()
            for pos in (first, second)}
    conn.execute("UPDATE events SET position = -1 WHERE position = ?", (first,))
    conn.execute("UPDATE events SET position = ? WHERE position = ?", (first, second))
    conn.execute("UPDATE events SET position = ? WHERE position = -1", (second,))
    assert rows[first] != rows[second]
    return first


def test_every_tampering_is_caught_at_its_position(pristine: Path, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    store = SqliteEventStore(str(pristine))
    n = store.count_events()
    assert verify_chain(store.read_all(), store.head()).ok
    store.close()
    caught = 0
    kinds = ["modify", "delete", "insert", "reorder"]
    for trial in range(200):
        copy = tmp_path / f"trial-{trial}.db"
        shutil.copyfile(pristine, copy)
        with sqlite3.connect(copy) as conn:
            conn.execute("DROP INDEX events_stream_version")  # a forger would not be stopped by it either
            expected = tamper(conn, kinds[trial % 4], rng, n)
        store = SqliteEventStore(str(copy))
        report = verify_chain(store.read_all(), store.head())
        store.close()
        copy.unlink()
        assert not report.ok, (trial, kinds[trial % 4], expected)
        assert report.first_bad_position == expected, (trial, kinds[trial % 4], expected, report)
        caught += 1
    assert caught == 200
