"""Hostile input: every answer a 4xx, never a 5xx, and not one ledger row written.

Sent with the admin token (all sites, every permission) so that validation, not authorisation,
is what refuses them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from tests.e2e.test_api import LYON, seed  # noqa: E402

INJECTIONS = ["'; DROP TABLE events; --", "<script>alert(1)</script>", "../../etc/passwd", "${jndi:ldap://x}",
              "ＯＡＴ-ＭＩＬＫ", "OAT\u0000MILK", "\u202eKLIM-TAO", "😀" * 10, "A" * 5000, "", " ", "OAT MILK"]
RESERVE = {"command": "ReserveStock", "reservation_id": "R-H", "sku": "OAT-MILK-1L", "site": LYON, "qty": 1}
PROPOSE = {"action": "replenish", "value": 10.0,
           "command": {"command": "PlacePurchaseOrder", "po_id": "PO-H", "sku": "OAT-MILK-1L", "site": LYON,
                       "supplier": "SUP-ALPRO", "qty": 100}}


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def cases() -> list[tuple[str, str, str, Any, dict[str, str]]]:
    """(id, method, path, body (dict = JSON, str/bytes = raw), extra headers)."""
    out: list[tuple[str, str, str, Any, dict[str, str]]] = []
    key = {"Idempotency-Key": "hostile"}
    for label, qty in [("negative", -5), ("zero", 0), ("huge", 10**30), ("float", 2.5), ("string", "12"),
                       ("bool", True), ("null", None), ("list", [1]), ("object", {"$gt": 0})]:
        out.append((f"command-qty-{label}", "POST", "/api/commands", {**RESERVE, "qty": qty}, key))
        out.append((f"proposal-qty-{label}", "POST", "/api/proposals",
                    {**PROPOSE, "command": {**PROPOSE["command"], "qty": qty}}, {}))
    out.append(("command-qty-nan", "POST", "/api/commands", json.dumps(RESERVE).replace('"qty": 1', '"qty": NaN'), key))
    out.append(("command-qty-inf", "POST", "/api/commands", json.dumps(RESERVE).replace('"qty": 1', '"qty": 1e999'), key))
    for label, value in [("nan", "NaN"), ("inf", "Infinity"), ("negative", "-1"), ("string", '"10"'), ("huge", "1e400")]:
        out.append((f"proposal-value-{label}", "POST", "/api/proposals",
                    json.dumps(PROPOSE).replace('"value": 10.0', f'"value": {value}'), {}))
    for extra in [{"approved": True}, {"site_id": "STORE-PARIS-01"}, {"actor": "root"},
                  {"idempotency_key": "mine"}, {"status": "executed"}, {"__proto__": {"admin": True}}]:
        name = next(iter(extra))
        out.append((f"command-extra-{name}", "POST", "/api/commands", {**RESERVE, **extra}, key))
        out.append((f"proposal-extra-{name}", "POST", "/api/proposals", {**PROPOSE, **extra}, {}))
        out.append((f"proposal-command-extra-{name}", "POST", "/api/proposals",
                    {**PROPOSE, "command": {**PROPOSE["command"], **extra}}, {}))
        out.append((f"approve-extra-{name}", "POST", "/api/proposals/0000/approve", {"reason": "x", **extra}, {}))
    for i, text in enumerate(INJECTIONS):
        out.append((f"command-sku-injection-{i}", "POST", "/api/commands", {**RESERVE, "sku": text}, key))
        out.append((f"command-reason-injection-{i}", "POST", "/api/commands",
                    {"command": "AdjustStock", "sku": "NOPE", "site": LYON, "delta": 1, "reason": text}, key))
        out.append((f"positions-site-injection-{i}", "GET", "/api/positions?site=" + quote(text), None, {}))
    out += [
        ("command-unknown", "POST", "/api/commands", {**RESERVE, "command": "DropEverything"}, key),
        ("command-missing-field", "POST", "/api/commands", {"command": "ReserveStock", "sku": "OAT-MILK-1L"}, key),
        ("command-array", "POST", "/api/commands", [RESERVE, RESERVE], key),
        ("command-string", "POST", "/api/commands", '"ReserveStock"', key),
        ("command-not-json", "POST", "/api/commands", "{not json", key),
        ("command-empty", "POST", "/api/commands", "", key),
        ("command-no-key", "POST", "/api/commands", RESERVE, {}),
        ("command-key-too-long", "POST", "/api/commands", RESERVE, {"Idempotency-Key": "k" * 1000}),
        ("command-over-1mb", "POST", "/api/commands", {**RESERVE, "pad": "x" * 1_100_000}, key),
        ("command-deep-json", "POST", "/api/commands", _deep(100_000), key),
        ("command-deep-object", "POST", "/api/commands", '{"a":' * 5000 + "1" + "}" * 5000, key),
        ("command-wrong-content-type", "POST", "/api/commands", "command=ReserveStock",
         {**key, "Content-Type": "application/x-www-form-urlencoded"}),
        ("command-unknown-site", "POST", "/api/commands", {**RESERVE, "site": "STORE-NOWHERE"}, key),
        ("command-unknown-reservation", "POST", "/api/commands",
         {"command": "ReleaseReservation", "reservation_id": "R-NOPE"}, key),
        ("command-oversell", "POST", "/api/commands", {**RESERVE, "qty": 10**9}, key),
        ("approve-unknown", "POST", "/api/proposals/does-not-exist/approve", {"reason": "x"}, {}),
        ("approve-bad-id", "POST", "/api/proposals/%27%3B%20DROP/approve", {"reason": "x"}, {}),
        ("approve-no-reason", "POST", "/api/proposals/abc/approve", {}, {}),
        ("approve-reason-huge", "POST", "/api/proposals/abc/approve", {"reason": "r" * 10_000}, {}),
        ("reject-unknown", "POST", "/api/proposals/does-not-exist/reject", {"reason": "x"}, {}),
        ("explain-unknown", "GET", "/api/proposals/nope/explanation", None, {}),
        ("page-too-big", "GET", "/api/positions?limit=100000", None, {}),
        ("page-negative", "GET", "/api/positions?limit=-1", None, {}),
        ("offset-negative", "GET", "/api/positions?offset=-5", None, {}),
        ("audit-after-string", "GET", "/api/audit/events?after=abc", None, {}),
        ("stock-unknown", "GET", "/api/stock/NOPE/NOWHERE", None, {}),
        ("policy-unknown", "GET", "/api/policies/nope", None, {}),
        ("policy-bad-yaml", "POST", "/api/policies", {"yaml": "name: [unclosed"}, {}),
        ("policy-not-mapping", "POST", "/api/policies", {"yaml": "- 1\n- 2"}, {}),
        ("policy-python-tag", "POST", "/api/policies", {"yaml": "!!python/object/apply:os.system ['id']"}, {}),
        ("policy-billion-laughs", "POST", "/api/policies", {"yaml": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                                                   "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nname: x\nversion: '1'\n"}, {}),
        ("policy-nan-threshold", "POST", "/api/policies",
         {"yaml": "name: x\nversion: '1'\nautonomy:\n  auto_approve_max_risk: .nan\n"}, {}),
        ("policy-extra", "POST", "/api/policies", {"yaml": "name: x\nversion: '1'", "approved": True}, {}),
        ("activate-unknown", "POST", "/api/policies/nope/activate", {"version": "1", "reason": "x"}, {}),
        ("canary-share-2", "POST", "/api/policies/default/canary", {"version": "x", "share": 2}, {}),
        ("canary-kpis-nan", "POST", "/api/policies/default/canary/kpis",
         '{"control": {"service_level": NaN}, "canary": {}}', {}),
        ("rollback-nothing", "POST", "/api/policies/default/rollback", {"reason": "x"}, {}),
        ("killswitch-string", "POST", "/api/killswitch", {"engaged": "yes please", "reason": "x"}, {}),
        ("killswitch-bad-site", "POST", "/api/killswitch", {"engaged": True, "reason": "x", "site": "<b>"}, {}),
    ]
    return out


CASES = cases()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, SqliteEventStore, str]]:
    store = SqliteEventStore(str(tmp_path_factory.mktemp("hostile") / "ledger.db"))
    store.init()
    tokens = seed(store)
    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store), raise_server_exceptions=False) as c:
        yield c, store, tokens["root"]
    store.close()


@pytest.mark.parametrize(("label", "method", "path", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_without_writing(api: tuple[TestClient, SqliteEventStore, str], label: str,
                                                  method: str, path: str, body: Any, headers: dict[str, str]) -> None:
    client, store, token = api
    before = store.head()[0]
    h = {"Authorization": f"Bearer {token}", **headers}
    if body is None:
        response = client.request(method, path, headers=h)
    elif isinstance(body, str | bytes):
        h.setdefault("Content-Type", "application/json")
        response = client.request(method, path, content=body, headers=h)
    else:
        response = client.request(method, path, json=body, headers=h)
    assert 400 <= response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/problem+json"), label
    assert store.head()[0] == before, f"{label} wrote to the ledger"
