"""A refused command's idempotency key keeps its refusal: the same key and body get the same error
again, even once the command would now succeed; another body under that key stays a conflict."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import LYON, problem, seed  # noqa: E402


def test_a_refused_ship_answers_409_again_after_a_restock(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    auth = {"Authorization": f"Bearer {tokens['pia']}"}
    ship = {"command": "ShipStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 900}
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            first = problem(client.post("/api/commands", json=ship, headers={**auth, "Idempotency-Key": "rk"}), 409)
            restock = {"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 1000}
            assert client.post("/api/commands", json=restock, headers={**auth, "Idempotency-Key": "rs"}).status_code \
                == 201
            head = store.head()[0]
            again = problem(client.post("/api/commands", json=ship, headers={**auth, "Idempotency-Key": "rk"}), 409)
            assert again["detail"] == first["detail"] and again["title"] == "insufficient stock"
            assert store.head()[0] == head  # nothing shipped
            other = client.post("/api/commands", json={**ship, "qty": 5}, headers={**auth, "Idempotency-Key": "rk"})
            assert problem(other, 422)["title"] == "idempotency conflict"
            fresh = client.post("/api/commands", json=ship, headers={**auth, "Idempotency-Key": "rk-2"})
            assert fresh.status_code == 201, fresh.text  # a new key is a new decision
        with sqlite3.connect(tmp_path / "ledger.db") as conn:
            row = conn.execute("SELECT first_position, last_position, refusal FROM idempotency "
                               "WHERE key = 'http:rk'").fetchone()
        assert row[:2] == (None, None) and '"error":"InsufficientStock"' in row[2]
    finally:
        store.close()
