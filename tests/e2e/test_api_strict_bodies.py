"""API bodies are parsed strictly before any route: a key given twice is a 422 problem naming it
(the standard library's parser, which FastAPI uses, keeps the last: ``"qty": 1, "qty": 40``
shipped 40), and nothing is written. Policy YAML in a body is held to the strict YAML loader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import LYON, REPO, World, problem, seed  # noqa: E402

SHIP = '{"command": "ShipStock", "sku": "OAT-MILK-1L", "site": "' + LYON + '", "qty": 1, "qty": 40}'
PROPOSE = ('{"action": "replenish", "value": 10.0, "command": {"command": "PlacePurchaseOrder", "po_id": "PO-D", '
           '"sku": "OAT-MILK-1L", "site": "' + LYON + '", "supplier": "SUP-ALPRO", "qty": 1, "qty": 9000}}')
POLICY = (REPO / "policies" / "default.yaml").read_text()
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store), raise_server_exceptions=False) as c:
        yield World(store, c, tokens, tmp_path / "ledger.db")
    store.close()


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/commands", SHIP, "qty"),
    ("/api/commands", SHIP.replace('"qty": 1, "qty": 40', '"qty": 1, "qty"\n: 40'), "qty"),
    ("/api/proposals", PROPOSE, "command.qty"),
    ("/api/killswitch", '{"engaged": false, "engaged": true, "reason": "storm"}', "engaged"),
])
def test_a_key_given_twice_is_refused_naming_it(world: World, path: str, body: str, field: str) -> None:
    before = world.store.head()
    response = world.client.post(path, content=body, headers=world.h("root", **{"Idempotency-Key": "twice", **JSON}))
    assert problem(response, 422)["field"] == field
    assert world.store.head() == before


def test_qty_twice_ships_nothing_and_once_ships_that_qty(world: World) -> None:
    key = {"Idempotency-Key": "ship-40", **JSON}
    assert problem(world.client.post("/api/commands", content=SHIP, headers=world.h("root", **key)), 422)
    response = world.client.post("/api/commands", content=SHIP.replace('"qty": 1, ', ""),
                                 headers=world.h("root", **key))
    assert response.status_code == 201, response.text
    detail = world.client.get(f"/api/stock/OAT-MILK-1L/{LYON}", headers=world.h("root")).json()
    assert detail["history"][-1]["on_hand"] == 360 - 40


@pytest.mark.parametrize(("yaml_text", "words"), [
    (POLICY.replace("name: default\n", "name: default\nname: lenient\n"), "line 3, field 'name': appears more than once"),
    (POLICY.replace('version: "2026.11.1"', "version: " + "9" * 5000), "5000 characters"),
    (POLICY + "extra: " + "[" * 1000 + "]" * 1000 + "\n", "nested too deeply"),
])
def test_policy_yaml_is_read_strictly(world: World, yaml_text: str, words: str) -> None:
    before = world.store.head()
    response = world.client.post("/api/policies", content=json.dumps({"yaml": yaml_text}),
                                 headers=world.h("root", **JSON))
    assert words in problem(response, 422)["detail"]
    assert world.store.head() == before
