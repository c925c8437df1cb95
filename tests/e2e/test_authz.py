"""The authorisation matrix: roles x endpoints x own or other site, every cell as specified.

Every user here is scoped to Lyon ("own"); Paris is the "other" site. Expected codes:

    endpoint                          viewer   planner  approver  admin      other site
    GET  positions?site=              200      200      200       200        403
    GET  stock/SKU/SITE               200      200      200       200        403
    GET  forecasts?site=              200      200      200       200        403
    GET  proposals/ID                 200      200      200       200        404 (hidden)
    POST commands (ReserveStock)      403      201      403       201        403
    POST proposals                    403      201      201       201        403
    POST proposals/ID/approve         403      403      200       200        403 / 404 (hidden)
    POST proposals/ID/reject          403      403      200       200        403 / 404 (hidden)
    POST killswitch {site}            403      403      403       200        403
    POST policies                     403      403      403       201        (network-wide)
    GET  audit/events?stream=stock:.  items    items    items     items      no items
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.entrypoints.api.services import state_of, write  # noqa: E402
from stockmesh.governance import decisions  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import LYON, PARIS, REPO, seed  # noqa: E402

ROLES = {"viewer": "vera", "planner": "pia", "approver": "ada", "admin": "alan"}
SITES = {"own": LYON, "other": PARIS}


class Matrix:
    def __init__(self, client: TestClient, tokens: dict[str, str], store: SqliteEventStore) -> None:
        self.client, self.tokens, self.store = client, tokens, store
        self.counter = 0

    def h(self, user: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}

    def queued(self, site: str) -> str:
        """A queued proposal at ``site`` requested by root (so four eyes never decides a cell)."""
        self.counter += 1
        r = self.client.post("/api/proposals", headers=self.h("root"), json={
            "action": "replenish", "value": 4000.0,
            "command": {"command": "PlacePurchaseOrder", "po_id": f"PO-M{self.counter}", "sku": "OAT-MILK-1L",
                        "site": site, "supplier": "SUP-ALPRO", "qty": 120}})
        assert r.json()["status"] == "queued", r.text
        return str(r.json()["proposal_id"])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    path = tmp_path_factory.mktemp("authz") / "ledger.db"
    store = SqliteEventStore(str(path))
    store.init()
    tokens = seed(store)
    write(store, decisions.create_user(state_of(store), "alan", "Alan", "admin", [LYON], "seed"), "seed")
    emitted, tokens["alan"] = decisions.issue_token(state_of(store), "alan", "seed")
    write(store, emitted, "seed")
    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store), raise_server_exceptions=False) as c:
        yield Matrix(c, tokens, store)
    store.close()


def _call(m: Matrix, endpoint: str, user: str, site: str) -> Any:
    h = m.h(user)
    sku = "OAT-MILK-1L"
    if endpoint == "positions":
        return m.client.get("/api/positions", params={"site": site}, headers=h)
    if endpoint == "stock":
        return m.client.get(f"/api/stock/{sku}/{site}", headers=h)
    if endpoint == "forecasts":
        return m.client.get("/api/forecasts", params={"site": site}, headers=h)
    if endpoint == "proposal":
        return m.client.get(f"/api/proposals/{m.queued(site)}", headers=h)
    if endpoint == "command":
        m.counter += 1
        return m.client.post("/api/commands", headers=m.h(user, **{"Idempotency-Key": f"authz-{m.counter}"}),
                             json={"command": "ReserveStock", "reservation_id": f"R-{m.counter}", "sku": sku,
                                   "site": site, "qty": 1})
    if endpoint == "propose":
        m.counter += 1
        return m.client.post("/api/proposals", headers=h, json={
            "action": "replenish", "value": 10.0,
            "command": {"command": "PlacePurchaseOrder", "po_id": f"PO-P{m.counter}", "sku": sku, "site": site,
                        "supplier": "SUP-ALPRO", "qty": 100}})
    if endpoint in ("approve", "reject"):
        return m.client.post(f"/api/proposals/{m.queued(site)}/{endpoint}", json={"reason": "matrix"}, headers=h)
    if endpoint == "killswitch":
        r = m.client.post("/api/killswitch", json={"engaged": True, "site": site, "reason": "matrix"}, headers=h)
        m.client.post("/api/killswitch", json={"engaged": False, "site": site, "reason": "matrix"},
                      headers=m.h("root"))
        return r
    if endpoint == "policies":
        m.counter += 1
        text = (REPO / "policies" / "manual.yaml").read_text().replace('version: "1"', f'version: "m{m.counter}"')
        return m.client.post("/api/policies", json={"yaml": text}, headers=h)
    if endpoint == "audit":
        return m.client.get("/api/audit/events", params={"stream": f"stock:{sku}@{site}"}, headers=h)
    raise AssertionError(endpoint)


READ = {"viewer": 200, "planner": 200, "approver": 200, "admin": 200}
EXPECTED: dict[str, dict[str, Any]] = {
    # endpoint: {"own": {role: code}, "other": {role: code}}
    "positions": {"own": READ, "other": dict.fromkeys(READ, 403)},
    "stock": {"own": READ, "other": dict.fromkeys(READ, 403)},
    "forecasts": {"own": READ, "other": dict.fromkeys(READ, 403)},
    "proposal": {"own": READ, "other": dict.fromkeys(READ, 404)},
    "command": {"own": {"viewer": 403, "planner": 201, "approver": 403, "admin": 201},
                "other": dict.fromkeys(READ, 403)},
    "propose": {"own": {"viewer": 403, "planner": 201, "approver": 201, "admin": 201},
                "other": dict.fromkeys(READ, 403)},
    "approve": {"own": {"viewer": 403, "planner": 403, "approver": 200, "admin": 200},
                "other": {"viewer": 403, "planner": 403, "approver": 404, "admin": 404}},
    "reject": {"own": {"viewer": 403, "planner": 403, "approver": 200, "admin": 200},
               "other": {"viewer": 403, "planner": 403, "approver": 404, "admin": 404}},
    "killswitch": {"own": {"viewer": 403, "planner": 403, "approver": 403, "admin": 200},
                   "other": dict.fromkeys(READ, 403)},
    "policies": {"own": {"viewer": 403, "planner": 403, "approver": 403, "admin": 201},
                 "other": {"viewer": 403, "planner": 403, "approver": 403, "admin": 201}},
    "audit": {"own": READ, "other": READ},
}
CELLS = [(e, r, s) for e in EXPECTED for r in ROLES for s in SITES]


@pytest.mark.parametrize(("endpoint", "role", "side"), CELLS, ids=[f"{e}-{r}-{s}" for e, r, s in CELLS])
def test_cell(matrix: Matrix, endpoint: str, role: str, side: str) -> None:
    response = _call(matrix, endpoint, ROLES[role], SITES[side])
    expected = EXPECTED[endpoint][side][role]
    assert response.status_code == expected, f"{endpoint} {role} {side}: {response.status_code} {response.text[:300]}"
    if endpoint == "audit":
        items = response.json()["items"]
        assert (len(items) > 0) == (side == "own")
    if expected == 201 and endpoint == "propose":
        assert response.json()["decision"] in ("approve", "queue")


def test_a_token_never_sees_more_than_its_user(matrix: Matrix) -> None:
    """A token narrowed to Lyon for an all-sites user sees Lyon only."""
    emitted, secret = decisions.issue_token(state_of(matrix.store), "vic", "seed", sites=[LYON])
    write(matrix.store, emitted, "seed")
    rows = matrix.client.get("/api/positions", headers={"Authorization": f"Bearer {secret}"}).json()["items"]
    assert {r["site"] for r in rows} == {LYON}


def test_revoked_token_and_disabled_user_are_refused(matrix: Matrix) -> None:
    emitted, secret = decisions.issue_token(state_of(matrix.store), "vera", "seed")
    write(matrix.store, emitted, "seed")
    h = {"Authorization": f"Bearer {secret}"}
    assert matrix.client.get("/api/me", headers=h).status_code == 200
    token_id = secret.split("_")[1]
    write(matrix.store, decisions.revoke_token(state_of(matrix.store), token_id, "seed"), "seed")
    assert matrix.client.get("/api/me", headers=h).status_code == 401


def test_tokens_are_stored_hashed(matrix: Matrix) -> None:
    text = Path(matrix.store.path).read_bytes()
    for secret in matrix.tokens.values():
        assert secret.encode() not in text
        assert secret.split("_", 2)[2].encode() not in text
