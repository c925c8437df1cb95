"""Availability of `stockmesh serve`: one viewer's heavy reads leave the server answering,
pages are read as pages, and a rotating X-Forwarded-For does not reset the rate limit.

The server-wide cases run a real `stockmesh serve` subprocess on a free port of 127.0.0.1 over a
SQLite ledger of "OAT-MILK-1L" receipts at "STORE-LYON-02" (big enough that walking its whole hash
chain 40 times at once kept every worker thread of the old server busy for seconds).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from stockmesh.domain.commands import parse_command  # noqa: E402
from stockmesh.entrypoints.api import Settings, create_app  # noqa: E402
from stockmesh.ledger.sqlite import SqliteEventStore  # noqa: E402
from stockmesh.service.execute import execute  # noqa: E402
from tests.e2e.test_api import LYON, PARIS, seed  # noqa: E402

STOCKMESH = str(Path(sys.executable).with_name("stockmesh"))
RECEIPTS = 30_000  # ~0.1 s per whole-chain walk; 40 of them at once took the old server's pool for > 4 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ledger(path: Path, receipts: int = 0) -> dict[str, str]:
    store = SqliteEventStore(str(path))
    store.init()
    tokens = seed(store)
    batch = 5_000
    for start in range(0, receipts, batch):
        execute(store, [parse_command({"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 1,
                                       "idempotency_key": f"bulk:{i}"})
                        for i in range(start, min(start + batch, receipts))])
    store.close()
    return tokens


class Server:
    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [STOCKMESH, "serve", "--db", f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(self.port), *args],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"stockmesh serve exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("stockmesh serve did not start within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def big_ledger(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "ledger.db"
    return path, _ledger(path, RECEIPTS)


def _hammer(url: str, token: str, paths: list[str], stop: threading.Event, answers: list[int]) -> None:
    """One of a viewer's concurrent readers: request after request until told to stop."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        i = 0
        while not stop.is_set():
            try:
                status = client.get(paths[i % len(paths)]).status_code
            except httpx.HTTPError:
                status = -1
            answers.append(status)
            i += 1
            if status in (429, 503):
                time.sleep(0.05)  # impatient: far sooner than the Retry-After it was given


def test_forty_heavy_reads_by_one_viewer_leave_healthz_and_a_write_answering(
        big_ledger: tuple[Path, dict[str, str]]) -> None:
    db, tokens = big_ledger
    server = Server(db, "--rate-limit", "0")
    stop = threading.Event()
    answers: list[int] = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            # Warm up: the governance fold and the read models are built once per server.
            assert client.get("/api/me", headers={"Authorization": f"Bearer {tokens['pia']}"}).status_code == 200
            assert client.get("/api/positions", headers={"Authorization": f"Bearer {tokens['vera']}"}).status_code \
                == 200
        # 30 readers walk the chain (the finding), 10 others read the other heavy routes.
        others = ["/api/network/posture", "/api/positions?limit=500", "/api/audit/events?newest_first=true&limit=500",
                  "/api/network/availability", "/api/kpis"]
        readers = [threading.Thread(target=_hammer, args=(server.url, tokens["vera"],
                                                          ["/api/audit/verify"] if i < 30 else others[i % 5:] +
                                                          others[:i % 5], stop, answers), daemon=True)
                   for i in range(40)]
        for reader in readers:
            reader.start()
        time.sleep(1.0)  # let the 40 readers fill whatever they can
        health, writes = [], []
        with httpx.Client(base_url=server.url, timeout=120) as probe:
            for i in range(5):
                started = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                health.append(time.perf_counter() - started)
                started = time.perf_counter()
                r = probe.post("/api/commands", headers={"Authorization": f"Bearer {tokens['pia']}",
                                                         "Idempotency-Key": f"probe-{i}"},
                               json={"command": "ReceiveStock", "sku": "COFFEE-1KG", "site": LYON, "qty": 1})
                writes.append(time.perf_counter() - started)
                assert r.status_code == 201, r.text
                time.sleep(0.2)
    finally:
        stop.set()
        for reader in readers if "readers" in locals() else []:
            reader.join(timeout=120)
        server.stop()
    latency = f"under 40 heavy reads /healthz took {health} s, a write {writes} s"
    assert statistics.median(health) < 1.0 and statistics.median(writes) < 1.0, latency
    assert 200 in answers and (429 in answers or 503 in answers), sorted(set(answers))
    assert not [s for s in answers if s >= 500 and s != 503], sorted(set(answers))


def test_verify_route_checks_only_new_events_and_notices_a_truncation(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    read: list[int] = []
    real_read_all = store.read_all

    def counting_read_all(after: int = 0, limit: int | None = None) -> Iterator[Any]:
        for e in real_read_all(after, limit):
            read.append(e.position)
            yield e

    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    chain = getattr(app.state.runtime, "chain", None)  # (the code before had none: it walked everything)
    if chain is not None:
        chain.budget = 50
    with TestClient(app, raise_server_exceptions=False) as client:
        h = {"Authorization": f"Bearer {tokens['vera']}"}
        client.get("/api/me", headers=h)  # the governance fold reads the ledger once
        head = store.head()[0]
        store.read_all = counting_read_all  # type: ignore[method-assign]
        first = client.get("/api/audit/verify", headers=h).json()
        assert len(read) <= 50 < head  # one call checks at most its budget
        assert first["ok"] is True and first["complete"] is False and first["events"] == 50
        while not client.get("/api/audit/verify", headers=h).json()["complete"]:
            pass
        read.clear()
        execute(store, [parse_command({"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 3,
                                       "idempotency_key": "one-more"})])
        again = client.get("/api/audit/verify", headers=h).json()
        assert again == {**again, "ok": True, "complete": True, "events": head + 1, "checked_now": 1}
        assert len(read) <= 3  # the event checked last, read again, and the new one (plus the governance fold's)
        # A whole walk is an admin's, one at a time.
        assert client.get("/api/audit/verify", params={"full": "true"}, headers=h).status_code == 403
        full = client.get("/api/audit/verify", params={"full": "true"},
                          headers={"Authorization": f"Bearer {tokens['root']}"}).json()
        assert full["ok"] is True and full["mode"] == "full" and full["events"] == head + 1
        # The last events deleted and the head rewound: the event this server checked last is gone.
        conn = store.connection()
        conn.execute("DELETE FROM events WHERE position > ?", (head - 5,))
        conn.execute("UPDATE ledger_head SET position = position - 6, hash = (SELECT hash FROM events WHERE "
                     "position = ?)", (head - 5,))
        store.read_all = real_read_all  # type: ignore[method-assign]
        cut = client.get("/api/audit/verify", headers=h).json()
        assert cut["ok"] is False and cut["first_bad_position"] == head + 1, cut
    store.close()


def test_positions_limit_one_reads_one_row(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    skus, sites = 200, [LYON] + [f"STORE-{j:02d}" for j in range(9)]  # 2,000 positions, 200 of them Lyon's
    rows = {(f"SKU-{i:04d}", site): (5, 0, 0, 0, 0, 0, 0, None, None, 0, None) for i in range(skus) for site in sites}
    store.save_views({"stock_positions": rows}, store.head()[0])  # as folded: nothing left to catch up
    fetched: list[tuple[str, int]] = []
    real_query = store._query

    def counting_query(statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
        result = real_query(statement, params)
        fetched.append((statement, len(result)))
        return result

    store._query = counting_query  # type: ignore[method-assign]
    app = create_app(Settings(rate_limit_per_minute=0), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/api/me", headers={"Authorization": f"Bearer {tokens['root']}"})
        fetched.clear()
        page = client.get("/api/positions", params={"limit": 1}, headers={"Authorization": f"Bearer {tokens['vera']}"})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) == 1 and body["items"][0]["site"] == LYON
        assert body["total"] == skus
        from_positions = [n for sql, n in fetched if "stock_positions" in sql]
        assert from_positions and max(from_positions) <= 1, fetched
        # The cursor goes on from there; the last page has no next.
        second = client.get("/api/positions", params={"limit": 1, "after": body["next"]},
                            headers={"Authorization": f"Bearer {tokens['vera']}"}).json()
        assert [(r["sku"], r["site"]) for r in body["items"] + second["items"]] == [("SKU-0000", LYON),
                                                                                    ("SKU-0001", LYON)]
        assert client.get("/api/positions", params={"limit": 501},
                          headers={"Authorization": f"Bearer {tokens['vera']}"}).status_code == 422
        # Every SKU's availability is one walk of the rows, a page at a time.
        fetched.clear()
        net = client.get("/api/network/availability", headers={"Authorization": f"Bearer {tokens['root']}"}).json()
        assert len(net["items"]) == skus and len(net["items"][0]["sites"]) == len(sites)
        assert max(n for sql, n in fetched if "stock_positions" in sql) <= 5_000
    store.close()


def _unauthenticated_answers(server: Server, forwarded: bool, count: int = 12) -> list[int]:
    out = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(count):
            headers = {"X-Forwarded-For": f"203.0.113.{i + 1}"} if forwarded else {}
            out.append(client.get("/api/me", headers=headers).status_code)
    return out


def test_rotating_forwarded_for_does_not_reset_the_rate_limit(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(db)
    env = {"STOCKMESH_RATE_LIMIT_BURST": "5"}
    server = Server(db, "--rate-limit", "1", env=env)
    try:
        answers = _unauthenticated_answers(server, forwarded=True)
    finally:
        server.stop()
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}, answers
    # Behind a proxy the operator names, the forwarded address is the client.
    server = Server(db, "--rate-limit", "1", "--forwarded-allow-ips", "127.0.0.1", env=env)
    try:
        answers = _unauthenticated_answers(server, forwarded=True)
    finally:
        server.stop()
    assert answers == [401] * 12, answers


def test_paris_rows_stay_out_of_a_lyon_page(tmp_path: Path) -> None:
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store)) as client:
        h = {"Authorization": f"Bearer {tokens['vera']}"}
        page = client.get("/api/positions", params={"limit": 1}, headers=h).json()
        assert page["total"] == 2 and page["items"][0]["site"] == LYON
        nxt = client.get("/api/positions", params={"limit": 1, "after": page["next"]}, headers=h).json()
        assert nxt["items"][0]["site"] == LYON and nxt["next"] is not None
        assert client.get("/api/positions", params={"limit": 1, "after": nxt["next"]}, headers=h).json() == {
            "total": 2, "items": [], "next": None}
        assert client.get("/api/positions", params={"site": PARIS}, headers=h).status_code == 403
    store.close()


def test_a_quiet_sites_audit_page_reads_a_bounded_slice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockmesh.entrypoints.api import queries

    monkeypatch.setattr(queries, "SCAN_EVENTS", 400, raising=False)
    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    execute(store, [parse_command({"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": LYON, "qty": 1,
                                   "idempotency_key": f"lyon:{i}"}) for i in range(2_000)])
    read: list[int] = []
    real_read_all = store.read_all

    def counting_read_all(after: int = 0, limit: int | None = None) -> Iterator[Any]:
        for e in real_read_all(after, limit):
            read.append(e.position)
            yield e

    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store)) as client:
        h = {"Authorization": f"Bearer {tokens['paul']}"}  # Paris: nothing among the last 2,000 events
        client.get("/api/me", headers=h)
        store.read_all = counting_read_all  # type: ignore[method-assign]
        page = client.get("/api/audit/events", params={"newest_first": "true", "limit": 50}, headers=h).json()
        assert page["items"] == [] and len(read) <= 400 and page["next_before"] is not None
        found, pages = [], 0
        while not found and page["next_before"] is not None and pages < 20:
            page = client.get("/api/audit/events", params={"newest_first": "true", "limit": 50,
                                                           "before": page["next_before"]}, headers=h).json()
            found, pages = page["items"], pages + 1
        streams = {e["stream_id"] for e in found}
        assert f"stock:COFFEE-1KG@{PARIS}" in streams and not any(LYON in s for s in streams), streams
        store.read_all = real_read_all  # type: ignore[method-assign]
        forward = client.get("/api/audit/events", params={"limit": 500, "after": 200}, headers=h).json()
        assert forward["items"] == [] and forward["next_after"] is not None
    store.close()


def test_a_proposals_page_summarises_only_its_proposals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stockmesh.governance import state as governance_state

    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    with TestClient(create_app(Settings(rate_limit_per_minute=0), store=store)) as client:
        h = {"Authorization": f"Bearer {tokens['pia']}"}
        for i in range(40):
            r = client.post("/api/proposals", headers=h, json={
                "action": "replenish", "value": 4000.0 + i, "reasons": ["promotion next week"],
                "command": {"command": "PlacePurchaseOrder", "po_id": f"PO-PAGE-{i}", "sku": "OAT-MILK-1L",
                            "site": LYON, "supplier": "SUP-ALPRO", "qty": 100 + i}})
            assert r.status_code == 201, r.text
        everything = client.get("/api/proposals", params={"limit": 500}, headers=h).json()
        summaries = []
        real_summary = governance_state.ProposalRecord.summary
        monkeypatch.setattr(governance_state.ProposalRecord, "summary",
                            lambda self: summaries.append(self.proposal_id) or real_summary(self))
        page = client.get("/api/proposals", params={"limit": 5, "offset": 3, "status": "queued"}, headers=h).json()
        assert len(summaries) == 5, len(summaries)
        queued = [p for p in everything["items"] if p["status"] == "queued"]
        assert page["total"] == len(queued) == 40 and page["items"] == queued[3:8]
    store.close()


def test_the_dashboard_retries_a_read_refused_by_the_limits(tmp_path: Path) -> None:
    """Chromium (as tests/e2e/test_dashboard.py): with one read per client, the posture page's two
    concurrent reads get a 429 for one of them; the page retries it after Retry-After and renders."""
    from tests.conftest import need
    from tests.e2e.test_dashboard import ARGS, CHROMIUM

    need(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    import uvicorn

    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    real_load_view = store.load_view

    def slow_positions(view: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if view == "stock_positions":
            time.sleep(0.3)  # the posture walk is still running when the KPIs request arrives
        return real_load_view(view, *args, **kwargs)

    store.load_view = slow_positions  # type: ignore[method-assign]
    port = _free_port()
    settings = Settings(rate_limit_per_minute=0, max_concurrent_reads_per_client=1)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    statuses: list[tuple[int, str]] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page()
            page.on("response", lambda r: statuses.append((r.status, r.url)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#token", tokens["vera"])
            page.click("#sign-in")
            page.wait_for_selector("#posture", timeout=15_000)
            assert LYON in page.inner_text("#view") and "error" not in page.inner_text("#view").lower()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    assert any(status == 429 for status, _ in statuses), statuses
