"""The verify route answers the head's position and hash, incrementally and on a whole walk: what an
operator compares with a checkpoint (`stockmesh audit checkpoint`)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import seed  # noqa: E402


def test_verify_route_returns_the_head_hash(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    position, head_hash = store.head()
    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        for params, token in (({}, "vera"), ({"full": "true"}, "root")):
            body = client.get("/api/audit/verify", params=params,
                              headers={"Authorization": f"Bearer {tokens[token]}"}).json()
            assert body["ok"] is True and body["head_position"] == position and body["head_hash"] == head_hash, body
    store.close()
