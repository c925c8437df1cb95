"""Refusal records on the ingest path: a line refused in --continue-on-error mode keeps its key's
refusal (in the same transaction as the rest of the batch); a file refused as a whole writes
nothing, its keys neither, so the fixed file goes in; a ledger made before refusal records gets
the column on its first write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from stockmesh.domain.errors import InsufficientStock, Rejected
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.execute import execute
from stockmesh.service.ingest import ingest_file, parse_lines

SETUP = [{"command": "RegisterSku", "idempotency_key": "sku", "sku": "OAT-MILK-1L"},
         {"command": "RegisterSite", "idempotency_key": "site", "site": "STORE-LYON-02"},
         {"command": "ReceiveStock", "idempotency_key": "in-1", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
          "qty": 10}]
SHIP = {"command": "ShipStock", "idempotency_key": "rk", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 900}
RESTOCK = {"command": "ReceiveStock", "idempotency_key": "in-2", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
           "qty": 1000}


def _file(path: Path, *objects: dict[str, object]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(o) for o in objects) + b"\n")
    return path


def _keys(db: Path) -> dict[str, tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return {row[0]: row[1:] for row in conn.execute(
            "SELECT key, first_position, last_position, refusal FROM idempotency")}


def test_a_line_refused_with_continue_on_error_stays_refused_after_a_restock(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "l.db"))
    store.init()
    try:
        first = ingest_file(store, _file(tmp_path / "a.jsonl", *SETUP, SHIP, SHIP), continue_on_error=True,
                            update_views=False)
        # the line and its repeat in the same file: both refused, one record
        assert [line for line, _ in first.rejected] == [4, 5] and first.applied == 3
        assert all(isinstance(e, InsufficientStock) for _, e in first.rejected)
        assert _keys(tmp_path / "l.db")["rk"][:2] == (None, None)
        ingest_file(store, _file(tmp_path / "b.jsonl", RESTOCK), update_views=False)
        head = store.head()[0]
        again = ingest_file(store, _file(tmp_path / "c.jsonl", SHIP), continue_on_error=True, update_views=False)
        assert again.applied == 0 and [str(e) for _, e in again.rejected] == [str(first.rejected[0][1])]
        with_whole = tmp_path / "d.jsonl"
        try:  # all or nothing: the refused key refuses the file, as the line did
            ingest_file(store, _file(with_whole, SHIP), update_views=False)
            raise AssertionError("the refused key must refuse the file")
        except Rejected as exc:
            assert "900" in str(exc.errors[0][1]) or isinstance(exc.errors[0][1], InsufficientStock)
        changed = ingest_file(store, _file(tmp_path / "e.jsonl", {**SHIP, "qty": 5}), continue_on_error=True,
                              update_views=False)
        assert "already used" in str(changed.rejected[0][1])  # another payload under the key: a conflict
        assert store.head()[0] == head
    finally:
        store.close()


def test_a_file_refused_as_a_whole_keeps_no_key(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "l.db"))
    store.init()
    try:
        ingest_file(store, _file(tmp_path / "setup.jsonl", *SETUP), update_views=False)
        before = _keys(tmp_path / "l.db")
        bad = _file(tmp_path / "f.jsonl", RESTOCK, {**SHIP, "qty": 90_000})
        try:
            ingest_file(store, bad, update_views=False)
            raise AssertionError("the file must be refused")
        except Rejected:
            pass
        assert _keys(tmp_path / "l.db") == before  # neither in-2 nor rk
        fixed = _file(tmp_path / "f.jsonl", RESTOCK, SHIP)  # the user fixes the file and resends it
        report = ingest_file(store, fixed, update_views=False)
        assert report.applied == 2 and not report.rejected
    finally:
        store.close()


def test_the_memory_backend_keeps_refusals_too() -> None:
    store = MemoryEventStore()
    commands = parse_lines(b"\n".join(orjson.dumps(o) for o in (*SETUP, SHIP)))[0]
    assert [o.status for o in execute(store, commands, all_or_nothing=False)] == ["applied"] * 3 + ["rejected"]
    execute(store, parse_lines(orjson.dumps(RESTOCK))[0])
    (outcome,) = execute(store, parse_lines(orjson.dumps(SHIP))[0], all_or_nothing=False)
    assert outcome.status == "rejected" and isinstance(outcome.error, InsufficientStock)


def test_a_ledger_from_before_refusal_records_gets_the_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    store = SqliteEventStore(str(db))
    store.init()
    store.close()
    with sqlite3.connect(db) as conn:  # the table as ledgers made before refusals have it
        conn.execute("DROP TABLE idempotency")
        conn.execute("CREATE TABLE idempotency (key TEXT PRIMARY KEY, payload_hash TEXT NOT NULL, "
                     "first_position INTEGER, last_position INTEGER, recorded_at TEXT NOT NULL) WITHOUT ROWID")
    store = SqliteEventStore(str(db))
    try:
        report = ingest_file(store, _file(tmp_path / "a.jsonl", *SETUP, SHIP), continue_on_error=True,
                             update_views=False)
        assert report.applied == 3 and len(report.rejected) == 1
        assert _keys(db)["rk"][2] is not None and _keys(db)["sku"][2] is None
    finally:
        store.close()
