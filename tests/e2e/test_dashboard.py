"""The dashboard in real Chromium (Debian's /usr/bin/chromium driven by Playwright) against uvicorn.

Skips on a clone without chromium; under CI=true a missing chromium is a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need
from tests.e2e.test_api import LYON, seed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    need(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    import uvicorn

    from stockmesh.entrypoints.api import Settings, create_app
    from stockmesh.ledger.sqlite import SqliteEventStore

    store = SqliteEventStore(str(tmp_path / "ledger.db"))
    store.init()
    tokens = seed(store)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(rate_limit_per_minute=0), store=store),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield {"url": f"http://127.0.0.1:{port}", "tokens": tokens, "store": store}
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    need(os.path.exists(CHROMIUM), f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _queued_proposal(served: dict[str, Any]) -> str:
    import httpx

    r = httpx.post(f"{served['url']}/api/proposals", headers={"Authorization": f"Bearer {served['tokens']['pia']}"},
                   json={"action": "replenish", "value": 4000.0, "reasons": ["promotion next week"],
                         "command": {"command": "PlacePurchaseOrder", "po_id": "PO-BROWSER", "sku": "OAT-MILK-1L",
                                     "site": LYON, "supplier": "SUP-ALPRO", "qty": 120}})
    assert r.json()["status"] == "queued", r.text
    return str(r.json()["proposal_id"])


def _sign_in(page: Any, served: dict[str, Any], user: str) -> None:
    blocked: list[str] = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(served["url"])
               else (blocked.append(route.request.url), route.abort()))
    page.goto(served["url"] + "/")
    page.fill("#token", served["tokens"][user])
    page.click("#sign-in")
    page.wait_for_selector("#posture")
    assert not blocked, f"the dashboard tried to reach the internet: {blocked}"


def test_viewer_sees_no_approve_button(served: dict[str, Any], browser: Any) -> None:
    _queued_proposal(served)
    page = browser.new_page()
    _sign_in(page, served, "vera")
    page.goto(served["url"] + "/#approvals")
    page.wait_for_selector("#queue")
    assert "OAT-MILK-1L" in page.inner_text("#queue")
    assert page.locator("button.approve").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-viewer-queue.png"), full_page=True)


def test_approver_approves_and_finds_it_in_the_audit_trail(served: dict[str, Any], browser: Any) -> None:
    pid = _queued_proposal(served)
    page = browser.new_page()
    _sign_in(page, served, "ada")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-posture.png"), full_page=True)
    page.goto(served["url"] + "/#approvals")
    page.wait_for_selector(f'[data-approve="{pid}"]')
    page.fill(f'[data-reason="{pid}"]', "promotion confirmed")
    page.click(f'[data-approve="{pid}"]')
    page.wait_for_function("document.getElementById('decision-result')?.textContent.includes('executed')")
    page.screenshot(path=str(ARTIFACTS / "dashboard-approved.png"), full_page=True)
    page.goto(served["url"] + "/#audit")
    page.wait_for_selector("#audit")
    audit = page.inner_text("#audit")
    assert f"proposal:{pid}" in audit and "ProposalApproved" in audit and "ProposalExecuted" in audit
    assert "PurchaseOrderPlaced" in audit
    assert page.inner_text("#chain") == "intact"
    page.screenshot(path=str(ARTIFACTS / "dashboard-audit.png"), full_page=True)
    page.goto(served["url"] + f"/#stock/OAT-MILK-1L/{LYON}")
    page.wait_for_selector("svg")
    assert "PO-BROWSER" in page.inner_text("#view")
    page.screenshot(path=str(ARTIFACTS / "dashboard-sku-site.png"), full_page=True)
    page.goto(served["url"] + "/#decisions")
    page.wait_for_selector("#feed")
    page.click(f'[data-explain="{pid}"]')
    page.wait_for_selector("#explanation table")
    assert "promotion confirmed" in page.inner_text("#explanation")
    page.goto(served["url"] + "/#policies")
    page.wait_for_selector("text=2026.11.1")
    page.screenshot(path=str(ARTIFACTS / "dashboard-policies.png"), full_page=True)
