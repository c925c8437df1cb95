"""The ledger CLI end to end: ingest, stock, history, replay --verify, audit verify, bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

runner = CliRunner()

SETUP = [
    {"command": "RegisterSku", "idempotency_key": "s1", "sku": "OAT-MILK-1L", "unit_cost": 1.1, "pack_size": 6},
    {"command": "RegisterSite", "idempotency_key": "s2", "site": "STORE-LYON-02", "kind": "store"},
    {"command": "RegisterSite", "idempotency_key": "s3", "site": "DC-LYON", "kind": "dc"},
    {"command": "ReceiveStock", "idempotency_key": "k-1", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 100},
    {"command": "ReceiveStock", "idempotency_key": "k-2", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 24},
    {"command": "DispatchTransfer", "idempotency_key": "k-3", "transfer_id": "T-1", "sku": "OAT-MILK-1L",
     "from_site": "DC-LYON", "to_site": "STORE-LYON-02", "qty": 30},
    {"command": "ReceiveTransfer", "idempotency_key": "k-4", "transfer_id": "T-1", "qty": 30},
]


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = invoke("ingest", str(write_lines(tmp_path / "setup.jsonl", SETUP)), "--db", url)
    assert result.exit_code == 0, result.output
    return url


def event_count(url: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def test_stock_json_and_reingest_changes_nothing(db: str, tmp_path: Path) -> None:
    result = invoke("stock", "--json", "--db", db)
    rows = {(r["sku"], r["site"]): r for r in json.loads(result.output)}
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["on_hand"] == 54
    assert rows[("OAT-MILK-1L", "DC-LYON")]["inventory_position"] == 70
    before = event_count(db)
    again = invoke("ingest", str(tmp_path / "setup.jsonl"), "--db", db)
    assert again.exit_code == 0 and "7 duplicate" in again.output
    assert event_count(db) == before
    assert invoke("stock", "--sku", "OAT-MILK-1L", "--site", "DC-LYON", "--db", db).exit_code == 0


def test_history_replay_and_audit(db: str) -> None:
    history = invoke("history", "transfer:T-1", "--json", "--db", db)
    assert [json.loads(line)["type"] for line in history.output.splitlines()] == [
        "TransferDispatched", "TransferReceived"]
    assert invoke("history", "po:NOPE", "--db", db).exit_code == 1
    verify = invoke("replay", "--verify", "--db", db)
    assert verify.exit_code == 0 and verify.output.startswith("ok:")
    assert invoke("replay", "--db", db).exit_code == 0
    audit = invoke("audit", "verify", "--db", db)
    assert audit.exit_code == 0, audit.output


def test_audit_and_replay_fail_on_tampering(db: str) -> None:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE events SET data = replace(data, '100', '900') WHERE position = 4")
    audit = invoke("audit", "verify", "--db", db)
    assert audit.exit_code == 1 and "position 4" in audit.output
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE stock_positions SET on_hand = on_hand + 1 WHERE site = 'DC-LYON'")
    verify = invoke("replay", "--verify", "--db", db)
    assert verify.exit_code == 1 and "stock_positions" in verify.output


BAD = [
    ("not json at all", "malformed JSON"),
    ('{"command": "Teleport", "idempotency_key": "b"}', "field 'command'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "NOPE", "site": "DC-LYON", "qty": 1}, "field 'sku'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "MARS", "qty": 1},
     "field 'site'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 0},
     "field 'qty'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": -5},
     "field 'qty'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 1.5},
     "field 'qty'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": "12"},
     "field 'qty'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON",
      "qty": 10**13}, "field 'qty'"),
    ({"command": "ReserveStock", "idempotency_key": "b", "reservation_id": "R-9", "sku": "OAT-MILK-1L",
      "site": "DC-LYON", "qty": 72}, "field 'qty'"),
    ({"command": "ReceiveTransfer", "idempotency_key": "b", "transfer_id": "T-1", "qty": 1}, "field 'transfer_id'"),
    ({"command": "ReceiveStock", "idempotency_key": "k-1", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 101},
     "field 'idempotency_key'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "牛奶", "site": "DC-LYON", "qty": 1}, "field 'sku'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "x'; DROP TABLE events;--", "site": "DC-LYON",
      "qty": 1}, "field 'sku'"),
    ({"command": "ReceiveStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 1,
      "approved": True}, "field 'approved'"),
    # a key given twice: JSON parsers keep the last one, so "qty" 1 would ship 5,000 unseen
    ('{"command": "ShipStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 1, '
     '"qty": 5000}', "field 'qty': appears more than once"),
    ('{"command": "ShipStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty" : 1, '
     '"qty" : 5000}', "field 'qty': appears more than once"),
    ('{"command": "ShipStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", '
     '"actor": "a\\": b", "site": "STORE-LYON-02", "qty": 1}', "field 'site': appears more than once"),
    ('{"command": "ShipStock", "idempotency_key": "b", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": NaN}',
     "malformed JSON"),
]


@pytest.mark.parametrize(("line", "message"), BAD, ids=[m + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_input_is_named_and_writes_nothing(db: str, tmp_path: Path, line, message) -> None:  # type: ignore[no-untyped-def]
    good = {"command": "ReceiveStock", "idempotency_key": "fresh", "sku": "OAT-MILK-1L", "site": "DC-LYON",
            "qty": 1}
    before = event_count(db)
    path = write_lines(tmp_path / "bad.jsonl", [good, line])
    result = invoke("ingest", str(path), "--db", db)
    assert result.exit_code == 1
    assert "line 2" in result.output and message in result.output, result.output
    assert event_count(db) == before


def test_windows_file_with_byte_order_mark_and_crlf(db: str, tmp_path: Path) -> None:
    """A file saved by a Windows tool: UTF-8 BOM first, CRLF line ends, a blank line at the end."""
    lines = [{"command": "ShipStock", "idempotency_key": f"w{i}", "sku": "OAT-MILK-1L", "site": "DC-LYON",
              "qty": 1, "actor": "a\": b"} for i in range(2)]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(x).encode() for x in lines) + b"\r\n\r\n")
    before = event_count(db)
    result = invoke("ingest", str(path), "--db", db)
    assert result.exit_code == 0, result.output
    assert event_count(db) == before + 2
    # a mark anywhere but at the start is not white space: that line is malformed
    path.write_bytes(json.dumps(lines[0]).encode() + b"\n\xef\xbb\xbf" + json.dumps(lines[1]).encode() + b"\n")
    result = invoke("ingest", str(path), "--db", db)
    assert result.exit_code == 1 and "line 2" in result.output and "malformed JSON" in result.output


def test_continue_on_error_writes_valid_lines(db: str, tmp_path: Path) -> None:
    lines = [
        {"command": "ReceiveStock", "idempotency_key": "c1", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 5},
        "{broken",
        {"command": "ShipStock", "idempotency_key": "c2", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 9999},
        {"command": "ShipStock", "idempotency_key": "c3", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 2},
    ]
    before = event_count(db)
    result = invoke("ingest", str(write_lines(tmp_path / "mixed.jsonl", lines)), "--continue-on-error", "--db", db)
    assert result.exit_code == 1
    assert "line 2" in result.output and "line 3" in result.output
    assert event_count(db) == before + 2
    rows = json.loads(invoke("stock", "--site", "DC-LYON", "--json", "--db", db).output)
    assert rows[0]["on_hand"] == 70 + 5 - 2


def test_missing_file_and_bad_url(tmp_path: Path) -> None:
    assert invoke("ingest", str(tmp_path / "nope.jsonl"), "--db", "memory://").exit_code == 1
    result = invoke("stock", "--db", "oracle://x")
    assert result.exit_code == 1 and "unsupported database URL" in result.output
