"""Benchmark: 200 concurrent clients reserving stock over HTTP on loopback for 30 s.

uvicorn (one process, `stockmesh serve`) on 127.0.0.1 over a SQLite ledger; the clients are
asyncio tasks with httpx in this process, each reserving 1-3 units of a random SKU x site with its
own Idempotency-Key, until the stock runs out (409 insufficient stock) and beyond. Afterwards the
ledger is checked: no position oversold (reserved <= on hand), and the units the clients saw
accepted equal the units reserved in the ledger.

    .venv/bin/python benchmarks/bench_api.py [--clients 200] [--seconds 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SKUS = [f"SKU-{i:02d}" for i in range(10)]
SITES = ["STORE-LYON-02", "STORE-PARIS-01", "DC-NORD"]


def seed(db: str, units: int) -> str:
    from stockmesh.domain.commands import parse_command
    from stockmesh.entrypoints.api.services import state_of, write
    from stockmesh.governance import decisions
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.service.execute import execute

    store = SqliteEventStore(db)
    store.init()
    lines: list[dict[str, object]] = [{"command": "RegisterSku", "sku": s, "unit_cost": 2.0} for s in SKUS]
    lines += [{"command": "RegisterSite", "site": s} for s in SITES]
    lines += [{"command": "ReceiveStock", "sku": k, "site": s, "qty": units} for k in SKUS for s in SITES]
    execute(store, [parse_command({**c, "idempotency_key": f"seed:{i}"}) for i, c in enumerate(lines)])
    write(store, decisions.create_user(state_of(store), "bench", "Bench", "planner", ["*"], "bench"), "bench")
    emitted, secret = decisions.issue_token(state_of(store), "bench", "bench")
    write(store, emitted, "bench")
    store.close()
    return secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client(n: int, url: str, token: str, deadline: float, results: list[tuple[float, int, int]]) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60.0, headers=headers) as http:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            qty = rng.randint(1, 3)
            body = {"command": "ReserveStock", "reservation_id": f"R-{n}-{i}", "sku": rng.choice(SKUS),
                    "site": rng.choice(SITES), "qty": qty}
            started = time.perf_counter()
            r = await http.post("/api/commands", json=body, headers={"Idempotency-Key": f"bench-{n}-{i}"})
            results.append((time.perf_counter() - started, r.status_code, qty if r.status_code == 201 else 0))


def check(db: str) -> dict[str, int]:
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.projections.runner import catch_up
    from stockmesh.projections.stock_positions import positions

    store = SqliteEventStore(db)
    catch_up(store)
    rows = positions(store)
    out = {"oversold_positions": sum(1 for r in rows if r["reserved"] > r["on_hand"] or r["available"] < 0),
           "reserved_units": sum(r["reserved"] for r in rows), "events": store.head()[0]}
    store.close()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    db = str(work / "ledger.db")
    token = seed(db, args.units)
    port = free_port()
    env = {**os.environ, "STOCKMESH_DB": f"sqlite:///{db}"}
    server = subprocess.Popen([sys.executable, "-m", "stockmesh.entrypoints.cli", "serve", "--port", str(port),
                               "--rate-limit", "0"], env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        results: list[tuple[float, int, int]] = []
        started = time.monotonic()
        deadline = started + args.seconds
        await asyncio.gather(*(client(n, url, token, deadline, results) for n in range(args.clients)))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = sorted(r[0] for r in results)
    codes: dict[int, int] = {}
    for _, code, _ in results:
        codes[code] = codes.get(code, 0) + 1
    accepted_units = sum(r[2] for r in results)
    ledger = check(db)

    def pct(p: float) -> float:
        return latencies[min(int(p * len(latencies)), len(latencies) - 1)] * 1000

    return {"clients": args.clients, "seconds": round(elapsed, 1), "requests": len(results),
            "throughput_rps": round(len(results) / elapsed, 1), "reserved_ok": codes.get(201, 0),
            "insufficient_stock_409": codes.get(409, 0), "other_status": {k: v for k, v in codes.items()
                                                                         if k not in (201, 409)},
            "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1), "max_ms": round(latencies[-1] * 1000, 1),
            "stock_units": args.units * len(SKUS) * len(SITES), "accepted_units": accepted_units,
            "ledger_reserved_units": ledger["reserved_units"], "oversold_positions": ledger["oversold_positions"],
            "ledger_events": ledger["events"], "python": platform.python_version(), "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--units", type=int, default=400, help="units of each SKU x site at the start")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    ok = report["oversold_positions"] == 0 and report["accepted_units"] == report["ledger_reserved_units"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
