"""HTTP API tests through the real app (TestClient) over a SQLite ledger.

The network: SKU "OAT-MILK-1L" and "COFFEE-1KG" at "STORE-LYON-02" and "STORE-PARIS-01", supplied by
"SUP-ALPRO". Users: root (admin, all sites), vera (viewer, Lyon), pia (planner, Lyon), ada and abe
(approvers, Lyon), paul (planner, Paris).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.domain.commands import parse_command  # noqa: E402
from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.entrypoints.api.services import state_of, write  # noqa: E402
from stockmesh.governance import decisions  # noqa: E402
from stockmesh.governance.policy import load_policy_text  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from stockmesh.service.execute import execute  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LYON, PARIS = "STORE-LYON-02", "STORE-PARIS-01"
USERS = {"root": ("admin", ["*"]), "vera": ("viewer", [LYON]), "pia": ("planner", [LYON]),
         "ada": ("approver", [LYON]), "abe": ("approver", [LYON]), "paul": ("planner", [PARIS]),
         "vic": ("viewer", ["*"])}


@dataclass
class World:
    store: SqliteEventStore
    client: TestClient
    tokens: dict[str, str]
    db_path: Path

    def h(self, user: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}

    def events(self) -> int:
        return self.store.head()[0]

    def propose(self, user: str, qty: int, value: float, site: str = LYON, po_id: str | None = None) -> Any:
        body = {"action": "replenish", "value": value, "reasons": ["below reorder point"],
                "command": {"command": "PlacePurchaseOrder", "po_id": po_id or f"PO-{qty}-{value}-{self.events()}",
                            "sku": "OAT-MILK-1L", "site": site, "supplier": "SUP-ALPRO", "qty": qty}}
        return self.client.post("/api/proposals", json=body, headers=self.h(user))


def seed(store: SqliteEventStore, policy: str = "default.yaml") -> dict[str, str]:
    lines = [
        {"command": "RegisterSku", "sku": "OAT-MILK-1L", "unit_cost": 1.2},
        {"command": "RegisterSku", "sku": "COFFEE-1KG", "unit_cost": 9.5},
        {"command": "RegisterSite", "site": LYON},
        {"command": "RegisterSite", "site": PARIS},
        {"command": "RegisterSite", "site": "SUP-ALPRO", "kind": "supplier"},
    ]
    for site in (LYON, PARIS):
        for sku in ("OAT-MILK-1L", "COFFEE-1KG"):
            lines.append({"command": "ReceiveStock", "sku": sku, "site": site, "qty": 500})
            for day in range(1, 15):
                lines.append({"command": "ShipStock", "sku": sku, "site": site, "qty": 10,
                              "occurred_at": f"2026-11-{day:02d}T12:00:00Z"})
    commands = [parse_command({**c, "idempotency_key": f"seed:{i}"}) for i, c in enumerate(lines)]
    execute(store, commands)
    tokens = {}
    for user, (role, sites) in USERS.items():
        write(store, decisions.create_user(state_of(store), user, user.title(), role, sites, "seed"), "seed")
        emitted, secret = decisions.issue_token(state_of(store), user, "seed")
        write(store, emitted, "seed")
        tokens[user] = secret
    doc = load_policy_text((REPO / "policies" / policy).read_text())
    write(store, decisions.publish_policy(state_of(store), doc, "seed"), "seed")
    write(store, decisions.activate_policy(state_of(store), doc.name, doc.version, "seed", "test"), "seed")
    return tokens


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(store, client, tokens, tmp_path / "ledger.db")
    store.close()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- basics --------------------------------------------------------------------------------------

def test_openapi_and_errors_as_problems(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    assert "/api/proposals/{proposal_id}/approve" in spec["paths"]
    problem(world.client.get("/api/positions"), 401)
    problem(world.client.get("/api/positions", headers={"Authorization": "Bearer smk_nope"}), 401)
    problem(world.client.get("/api/proposals/nope", headers=world.h("root")), 404)
    problem(world.client.get("/no/such/route"), 404)


def test_positions_are_scoped_to_the_tokens_sites(world: World) -> None:
    rows = world.client.get("/api/positions", headers=world.h("vera")).json()["items"]
    assert rows and {r["site"] for r in rows} == {LYON}
    assert {r["site"] for r in world.client.get("/api/positions", headers=world.h("root")).json()["items"]} == {
        LYON, PARIS}
    problem(world.client.get("/api/positions", params={"site": PARIS}, headers=world.h("vera")), 403)
    problem(world.client.get(f"/api/stock/OAT-MILK-1L/{PARIS}", headers=world.h("vera")), 403)
    net = world.client.get("/api/network/availability", params={"sku": "OAT-MILK-1L"}, headers=world.h("vera")).json()
    assert [s["site"] for s in net["sites"]] == [LYON] and net["available"] == 500 - 140
    problem(world.client.get("/api/positions", params={"limit": 501}, headers=world.h("root")), 422)


def test_stock_detail_and_posture(world: World) -> None:
    detail = world.client.get(f"/api/stock/OAT-MILK-1L/{LYON}", headers=world.h("vera")).json()
    assert detail["history"][-1]["on_hand"] == 360
    assert len(detail["forecast_fan"]) == 28 and detail["daily_demand"] > 0
    posture = world.client.get("/api/network/posture", headers=world.h("root")).json()
    assert {c["site"] for c in posture["cells"]} == {LYON, PARIS}
    assert all(c["days_of_cover"] is not None for c in posture["cells"])


# --- command ingest ------------------------------------------------------------------------------

def test_idempotency_key_same_body_replays_other_body_422(world: World) -> None:
    body = {"command": "ReserveStock", "reservation_id": "R-1", "sku": "OAT-MILK-1L", "site": LYON, "qty": 5}
    first = world.client.post("/api/commands", json=body, headers=world.h("pia", **{"Idempotency-Key": "k-1"}))
    assert first.status_code == 201, first.text
    head = world.events()
    again = world.client.post("/api/commands", json=body, headers=world.h("pia", **{"Idempotency-Key": "k-1"}))
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = world.client.post("/api/commands", json={**body, "qty": 6},
                              headers=world.h("pia", **{"Idempotency-Key": "k-1"}))
    assert problem(other, 422)["title"] == "idempotency conflict"
    assert world.events() == head
    problem(world.client.post("/api/commands", json=body, headers=world.h("pia")), 422)  # no key


def test_commands_map_domain_errors(world: World) -> None:
    key = {"Idempotency-Key": "k-big"}
    big = {"command": "ShipStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 100_000}
    assert problem(world.client.post("/api/commands", json=big, headers=world.h("pia", **key)), 409)["title"] == \
        "insufficient stock"
    unknown = {"command": "ReleaseReservation", "reservation_id": "R-NOPE"}
    problem(world.client.post("/api/commands", json=unknown, headers=world.h("root", **{"Idempotency-Key": "k-u"})),
            404)


# --- proposals and approvals ---------------------------------------------------------------------

def test_low_risk_executes_alone_high_risk_waits_and_four_eyes(world: World) -> None:
    small = world.propose("pia", qty=100, value=120.0)
    assert small.status_code == 201 and small.json()["status"] == "executed", small.text
    big = world.propose("ada", qty=120, value=4000.0)
    assert big.json()["status"] == "queued", big.text
    pid = big.json()["proposal_id"]
    assert any("risk" in r for r in big.json()["reasons"])
    head = world.events()
    # Nothing executed without approval; the requester cannot approve; a viewer cannot approve.
    assert world.client.get(f"/api/proposals/{pid}", headers=world.h("vera")).json()["status"] == "queued"
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "mine"}, headers=world.h("ada")), 403)
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "x"}, headers=world.h("vera")), 403)
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "x"}, headers=world.h("paul")), 403)
    assert world.events() == head
    ok = world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "seasonal peak"}, headers=world.h("abe"))
    assert ok.status_code == 200 and ok.json()["status"] == "executed", ok.text
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "again"}, headers=world.h("abe")), 409)
    story = world.client.get(f"/api/proposals/{pid}/explanation", headers=world.h("vera")).json()
    types = [h["type"] for h in story["history"]]
    assert types == ["ProposalMade", "ProposalQueued", "ProposalApproved", "ProposalExecuted"]
    assert story["history"][2]["data"]["by"] == "abe" and story["policy"]["version"] == "2026.11.1"
    assert [e["type"] for e in story["executed_events"]] == ["PurchaseOrderPlaced", "PurchaseOrderStockExpected"]
    audit = world.client.get("/api/audit/events", params={"stream": f"proposal:{pid}"}, headers=world.h("vera"))
    assert [e["type"] for e in audit.json()["items"]][-1] == "ProposalExecuted"
    assert world.client.get("/api/audit/verify", headers=world.h("vera")).json()["ok"] is True


def test_reject_with_reason(world: World) -> None:
    pid = world.propose("pia", qty=130, value=5000.0).json()["proposal_id"]
    problem(world.client.post(f"/api/proposals/{pid}/reject", json={}, headers=world.h("ada")), 422)
    r = world.client.post(f"/api/proposals/{pid}/reject", json={"reason": "supplier on hold"}, headers=world.h("ada"))
    assert r.json()["status"] == "rejected" and r.json()["decision_reasons"] == ["supplier on hold"]
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "x"}, headers=world.h("abe")), 409)


def test_concurrent_approvals_execute_once(world: World) -> None:
    pid = world.propose("pia", qty=140, value=6000.0, po_id="PO-RACE").json()["proposal_id"]
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def approve(user: str) -> None:
        barrier.wait()
        codes.append(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "go"},
                                       headers=world.h(user)).status_code)

    threads = [threading.Thread(target=approve, args=("abe" if i % 2 else "ada",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * 7
    placed = [e for e in world.store.read_stream("po:PO-RACE") if e.type == "PurchaseOrderPlaced"]
    assert len(placed) == 1
    types = [e.type for e in world.store.read_stream(f"proposal:{pid}")]
    assert types.count("ProposalApproved") == 1 and types.count("ProposalExecuted") == 1


def test_replayed_approval_on_stale_state_is_a_duplicate(world: World) -> None:
    """Two processes with the same (stale) view approve: the idempotency key executes it once."""
    from stockmesh.domain.errors import InvalidTransition
    from stockmesh.entrypoints.api.services import approve_proposal
    from stockmesh.governance.auth import Principal

    pid = world.propose("pia", qty=150, value=7000.0, po_id="PO-REPLAY").json()["proposal_id"]
    stale = state_of(world.store)
    ada = Principal("ada", "approver", (LYON,), "t1")
    abe = Principal("abe", "approver", (LYON,), "t2")
    assert approve_proposal(world.store, stale, ada, pid, "first") == "executed"
    head = world.events()
    with pytest.raises(InvalidTransition):
        approve_proposal(world.store, stale, abe, pid, "replay")
    assert world.events() == head
    assert len([e for e in world.store.read_stream("po:PO-REPLAY") if e.type == "PurchaseOrderPlaced"]) == 1


def test_approvals_expire(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from stockmesh.domain.clock import ManualClock

    pid = world.propose("pia", qty=160, value=8000.0).json()["proposal_id"]
    later = datetime.now(UTC) + timedelta(hours=49)
    runtime = world.client.app.state.runtime  # the API reads the time from its runtime's clock
    runtime.clock = ManualClock(later)
    problem(world.client.post(f"/api/proposals/{pid}/approve", json={"reason": "late"}, headers=world.h("ada")),
            409)
    assert world.client.get(f"/api/proposals/{pid}", headers=world.h("ada")).json()["status"] == "expired"
    assert world.client.post("/api/proposals/expire", headers=world.h("ada")).json() == {"expired": 1}
    assert [e.type for e in world.store.read_stream(f"proposal:{pid}")][-1] == "ProposalExpired"


def test_kill_switch_queues_everything(world: World) -> None:
    problem(world.client.post("/api/killswitch", json={"engaged": True, "reason": "x"}, headers=world.h("ada")), 403)
    r = world.client.post("/api/killswitch", json={"engaged": True, "reason": "incident 42"}, headers=world.h("root"))
    assert r.json()["engaged"] is True
    small = world.propose("pia", qty=100, value=10.0)
    assert small.json()["status"] == "queued" and any("kill switch" in x for x in small.json()["reasons"])
    world.client.post("/api/killswitch", json={"engaged": False, "reason": "over"}, headers=world.h("root"))
    assert world.propose("pia", qty=100, value=10.0).json()["status"] == "executed"


def test_guardrail_rejections_and_no_policy(world: World) -> None:
    huge = world.propose("pia", qty=20_000, value=10.0)
    assert huge.json()["decision"] == "reject" and "maximum order quantity" in " ".join(huge.json()["reasons"])
    # no stock data at an unknown site: paul's Paris is covered; a site nobody registered is in safe mode
    r = world.client.post("/api/proposals", headers=world.h("root"), json={
        "action": "replenish", "value": 10.0,
        "command": {"command": "PlacePurchaseOrder", "po_id": "PO-NEW", "sku": "OAT-MILK-1L", "site": "STORE-NEW",
                    "supplier": "SUP-ALPRO", "qty": 100}})
    assert r.json()["status"] == "queued" and "safe mode" in " ".join(r.json()["reasons"])


# --- policies and rollout ------------------------------------------------------------------------

def test_policy_lifecycle_canary_and_automatic_rollback(world: World) -> None:
    text = (REPO / "policies" / "cautious.yaml").read_text()
    problem(world.client.post("/api/policies", json={"yaml": text}, headers=world.h("ada")), 403)
    r = world.client.post("/api/policies", json={"yaml": text}, headers=world.h("root"))
    assert r.status_code == 201 and r.json()["created"] is True
    assert world.client.post("/api/policies", json={"yaml": text}, headers=world.h("root")).json()["created"] is False
    problem(world.client.post("/api/policies", json={"yaml": text.replace("0.97", "0.96")}, headers=world.h("root")),
            409)
    problem(world.client.post("/api/policies", json={"yaml": "name: x\nversion: 1\nbogus: 1"},
                              headers=world.h("root")), 422)
    c = world.client.post("/api/policies/default/canary", json={"version": "2026.11.2-cautious", "share": 0.5},
                          headers=world.h("root"))
    assert c.status_code == 200, c.text
    kpis = world.client.post("/api/policies/default/canary/kpis", headers=world.h("root"), json={
        "control": {"service_level": 0.96, "total_cost": 100.0}, "canary": {"service_level": 0.90, "total_cost": 95.0}})
    assert kpis.json()["events"] == ["CanaryKpisRecorded", "PolicyRolledBack"]
    policy = world.client.get("/api/policies/default", headers=world.h("vera")).json()
    assert policy["canary"] is None and policy["active"] == "2026.11.1"
    assert policy["history"][-1]["automatic"] is True
    s = world.client.post("/api/policies/default/shadow", json={"version": "2026.11.2-cautious"},
                          headers=world.h("root"))
    assert s.status_code == 200
    pid = world.propose("pia", qty=100, value=120.0).json()["proposal_id"]
    story = world.client.get(f"/api/proposals/{pid}/explanation", headers=world.h("pia")).json()
    assert story["shadow_verdicts"][0]["version"] == "2026.11.2-cautious"
    a = world.client.post("/api/policies/default/activate", json={"version": "2026.11.2-cautious", "reason": "ok"},
                          headers=world.h("root"))
    assert a.status_code == 200
    b = world.client.post("/api/policies/default/rollback", json={"reason": "too strict"}, headers=world.h("root"))
    assert b.status_code == 200
    assert world.client.get("/api/policies", headers=world.h("vera")).json()[0]["active"] == "2026.11.1"


# --- operations ----------------------------------------------------------------------------------

def test_metrics_kpis_forecasts(world: World) -> None:
    world.propose("pia", qty=100, value=120.0)
    world.propose("pia", qty=120, value=4000.0)
    text = world.client.get("/metrics").text
    for name in ("stockmesh_decision_latency_seconds", "stockmesh_ledger_events_per_second",
                 "stockmesh_data_age_seconds", "stockmesh_approval_queue_size 1.0", "stockmesh_service_level"):
        assert name in text
    kpis = world.client.get("/api/kpis", headers=world.h("vera")).json()
    assert kpis["approval_queue"] == 1 and [s["site"] for s in kpis["sites"]] == [LYON]
    assert world.client.get("/api/forecasts", headers=world.h("vera")).json() == {"items": [], "total": 0}
    assert world.client.get("/api/me", headers=world.h("vera")).json()["role"] == "viewer"


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "l.db"))
    store.init()
    tokens = seed(store)
    app = create_app(Settings(rate_limit_per_minute=60, rate_limit_burst=5), store=store)
    with TestClient(app) as client:
        codes = [client.get("/api/me", headers={"Authorization": f"Bearer {tokens['vera']}"}) for _ in range(8)]
        assert [c.status_code for c in codes[:5]] == [200] * 5
        limited = codes[-1]
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        # another token has its own bucket
        assert client.get("/api/me", headers={"Authorization": f"Bearer {tokens['pia']}"}).status_code == 200
    store.close()


def test_dashboard_assets_are_local(world: World) -> None:
    page = world.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        r = world.client.get(asset)
        assert r.status_code == 200 and "https://" not in r.text.replace("https://stockmesh.dev", "")


def test_a_days_sales_post_as_one_batch(world: World) -> None:
    body = {"command": "RecordSales", "site": LYON,
            "lines": [{"sku": "OAT-MILK-1L", "qty": 3}, {"sku": "COFFEE-1KG", "qty": 2}]}
    head = world.events()
    ok = world.client.post("/api/commands", json=body, headers=world.h("pia", **{"Idempotency-Key": "pos-1"}))
    assert ok.status_code == 201, ok.text
    assert world.events() == head + 2
    bad = {**body, "lines": [{"sku": "OAT-MILK-1L", "qty": 3}, {"sku": "COFFEE-1KG", "qty": 10**6}]}
    problem(world.client.post("/api/commands", json=bad, headers=world.h("pia", **{"Idempotency-Key": "pos-2"})), 409)
    extra = {**body, "lines": [{"sku": "OAT-MILK-1L", "qty": 3, "approved": True}]}
    problem(world.client.post("/api/commands", json=extra, headers=world.h("pia", **{"Idempotency-Key": "pos-3"})),
            422)
    assert world.events() == head + 2
