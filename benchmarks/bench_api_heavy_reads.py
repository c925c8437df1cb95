"""Benchmark: one viewer's 40 concurrent heavy reads against `stockmesh serve`.

Copies a SQLite ledger (the demo's, say) to a temporary folder (the original is only read), adds a
viewer and a planner with tokens to the copy, starts `stockmesh serve --rate-limit 0` on it on a
free port of 127.0.0.1, warms it up (the governance fold, the read models), then lets 40 threads of
one viewer token read heavy routes back to back (30 on /api/audit/verify, 10 on posture,
positions?limit=500, audit events, availability, KPIs; a refused read is retried after 50 ms) for
``--seconds``. Meanwhile it probes /healthz and a one-unit `ReceiveStock` write by the planner
every 0.5 s, and samples the server's resident memory. ``--src`` runs the server from another
source tree (e.g. the code before a change, from `git archive`), for a before/after in one run.

    .venv/bin/python benchmarks/bench_api_heavy_reads.py --db sqlite:////tmp/demo.db [--src /tmp/old/src]
        [--readers 40] [--seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

STOCKMESH = str(Path(sys.executable).with_name("stockmesh"))
OTHERS = ["/api/network/posture", "/api/positions?limit=500", "/api/audit/events?newest_first=true&limit=500",
          "/api/network/availability", "/api/kpis"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(source: str, folder: Path) -> tuple[Path, dict[str, str], int, str]:
    from stockmesh.entrypoints.api.services import state_of, write
    from stockmesh.governance import decisions
    from stockmesh.ledger.sqlite import SqliteEventStore

    original = Path(source.removeprefix("sqlite:///"))
    if not original.is_file():
        raise SystemExit(f"error: --db: no SQLite ledger at {original}")
    copy = folder / "ledger.db"
    src = SqliteEventStore(str(original))
    src.connection().execute(f"VACUUM INTO '{copy}'")  # a consistent copy, even of a WAL file in use
    src.close()
    store = SqliteEventStore(str(copy))
    tokens = {}
    for user, role in (("bench-viewer", "viewer"), ("bench-planner", "planner")):
        write(store, decisions.create_user(state_of(store), user, user, role, ["*"], "bench"), "bench")
        emitted, secret = decisions.issue_token(state_of(store), user, "bench")
        write(store, emitted, "bench")
        tokens[role] = secret
    site = store._query("SELECT site FROM stock_positions LIMIT 1")[0][0]
    sku = store._query("SELECT sku FROM stock_positions LIMIT 1")[0][0]
    events = store.head()[0]
    store.close()
    return copy, tokens, events, f"{sku}|{site}"


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reader(url: str, token: str, paths: list[str], stop: threading.Event, answers: Counter[int]) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=900) as client:
        i = 0
        while not stop.is_set():
            try:
                status = client.get(paths[i % len(paths)]).status_code
            except httpx.HTTPError:
                status = -1
            answers[status] += 1
            i += 1
            if status in (429, 503):
                time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-heavy-") as tmp:
        db, tokens, events, position = prepare(args.db, Path(tmp))
        sku, site = position.split("|")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        if args.src:
            env["PYTHONPATH"] = str(args.src)
        server = subprocess.Popen([STOCKMESH, "serve", "--db", f"sqlite:///{db}", "--port", str(port),
                                   "--rate-limit", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("error: the server did not start")
                time.sleep(0.2)
            started = time.perf_counter()
            with httpx.Client(base_url=url, timeout=900) as client:
                for token in tokens.values():
                    client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                client.get("/api/positions?limit=1", headers={"Authorization": f"Bearer {tokens['viewer']}"})
            warm_up = time.perf_counter() - started
            rss_idle, _ = rss_mb(server.pid)
            stop = threading.Event()
            answers: Counter[int] = Counter()
            threads = [threading.Thread(target=reader, daemon=True,
                                        args=(url, tokens["viewer"], ["/api/audit/verify"] if i < 30 else
                                              OTHERS[i % 5:] + OTHERS[:i % 5], stop, answers))
                       for i in range(args.readers)]
            for t in threads:
                t.start()
            time.sleep(1.0)
            health: list[float] = []
            writes: list[float] = []
            rss_samples: list[float] = []
            timeouts = 0
            end = time.monotonic() + args.seconds
            with httpx.Client(base_url=url, timeout=args.probe_timeout) as probe:
                i = 0
                while time.monotonic() < end:
                    for kind, call in (
                            ("health", lambda: probe.get("/healthz")),
                            ("write", lambda i=i: probe.post(
                                "/api/commands", json={"command": "ReceiveStock", "sku": sku, "site": site, "qty": 1},
                                headers={"Authorization": f"Bearer {tokens['planner']}",
                                         "Idempotency-Key": f"bench-heavy-{i}"}))):
                        t0 = time.perf_counter()
                        try:
                            call()
                            elapsed = time.perf_counter() - t0
                        except httpx.TimeoutException:
                            timeouts += 1
                            elapsed = args.probe_timeout
                        (health if kind == "health" else writes).append(elapsed)
                    rss_samples.append(rss_mb(server.pid)[0])
                    i += 1
                    time.sleep(0.5)
            _, rss_peak = rss_mb(server.pid)
            stop.set()
            for t in threads:
                t.join(timeout=5)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    def q(values: list[float], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(p * len(values)))]

    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.node(),
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "server_source": str(args.src or "this checkout"), "events": events, "readers": args.readers,
            "seconds": args.seconds, "warm_up_s": round(warm_up, 2),
            "healthz_s": {"median": round(statistics.median(health), 4), "p90": round(q(health, 0.9), 4),
                          "max": round(max(health), 4), "probes": len(health)},
            "write_s": {"median": round(statistics.median(writes), 4), "p90": round(q(writes, 0.9), 4),
                        "max": round(max(writes), 4), "probes": len(writes)},
            "probe_timeouts": timeouts, "probe_timeout_s": args.probe_timeout,
            "rss_mb": {"idle": round(rss_idle), "max_sampled": round(max(rss_samples)), "peak": round(rss_peak)},
            "reader_answers": dict(sorted(answers.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="sqlite:///PATH of the ledger to copy (only read)")
    parser.add_argument("--src", type=Path, default=None, help="run the server from this source tree")
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--probe-timeout", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
