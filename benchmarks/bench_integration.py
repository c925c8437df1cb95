"""Integration benchmark: EPCIS ingest, relay throughput to NATS and drain after an
outage, reconciliation of 1,000,000 SKU x site rows.

    nice -n 5 .venv/bin/python benchmarks/bench_integration.py            # full (30 s outage, 1M rows)
    nice -n 5 .venv/bin/python benchmarks/bench_integration.py --quick    # smoke sizes

The NATS parts start a nats-server of their own (free port, temporary store dir) so the outage is a
real kill -9 of the server process, without disturbing the shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from stockmesh.adapters import epcis
from stockmesh.adapters.nats_bus import NatsBus
from stockmesh.domain.commands import parse_command
from stockmesh.ledger.records import OutboxMessage
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service import outbox
from stockmesh.service import reconcile as rc
from stockmesh.service.execute import execute


def cmd(name: str, key: str, **fields) -> object:  # type: ignore[no-untyped-def]
    return parse_command({"command": name, "idempotency_key": key, **fields})


def network(store: SqliteEventStore, skus: int, sites: int) -> None:
    execute(store, [cmd("RegisterSku", f"s{i}", sku=f"SKU-{i:05d}") for i in range(skus)]
            + [cmd("RegisterSite", f"t{j}", site=f"SITE-{j:04d}") for j in range(sites)])


# --- EPCIS ---------------------------------------------------------------------------------------

def bench_epcis(tmp: Path, events: int) -> dict[str, float]:
    skus, sites = 50, 20
    mapping = epcis.load_mapping({
        "products": {f"urn:epc:idpat:sgtin:0614141.{100000 + i}.*": f"SKU-{i:05d}" for i in range(skus)},
        "locations": {f"urn:epc:id:sgln:0614141.{10000 + j}.0": f"SITE-{j:04d}" for j in range(sites)}})
    rng = np.random.default_rng(1)
    doc = epcis.export_document(SqliteEventStore.__new__(SqliteEventStore), events=[{
        "type": "ObjectEvent", "eventID": f"urn:uuid:bench-{n}", "eventTime": "2026-11-26T10:00:00Z",
        "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
        "bizLocation": {"id": f"urn:epc:id:sgln:0614141.{10000 + int(rng.integers(sites))}.0"},
        "quantityList": [{"epcClass": f"urn:epc:idpat:sgtin:0614141.{100000 + int(rng.integers(skus))}.*",
                          "quantity": int(rng.integers(1, 100))}]} for n in range(events)])
    raw = orjson.dumps(doc)
    store = SqliteEventStore(str(tmp / "epcis.db"))
    store.init()
    network(store, skus, sites)
    t0 = time.perf_counter()
    report = epcis.ingest(store, epcis.read_document(raw), mapping)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    again = epcis.ingest(store, epcis.read_document(raw), mapping)
    elapsed_again = time.perf_counter() - t1
    store.close()
    assert report.applied == events and again.duplicates == events
    return {"events": events, "seconds": round(elapsed, 2), "events_per_s": round(events / elapsed),
            "reingest_seconds": round(elapsed_again, 2), "reingest_events_per_s": round(events / elapsed_again)}


# --- NATS ----------------------------------------------------------------------------------------

class Server:
    def __init__(self, store_dir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.store_dir = store_dir
        self.binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
                                      str(self.store_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def enqueue(store: SqliteEventStore, start: int, count: int) -> None:
    now = datetime.now(UTC).isoformat()
    execute(store, [], outbox=[OutboxMessage(f"m-{i}", "inbound.receipt", orjson.dumps(
        {"command": "ReceiveStock", "sku": "SKU-00001", "site": f"SITE-{i % 20:04d}", "qty": 1}).decode(), now)
        for i in range(start, start + count)])


def bench_relay(tmp: Path, messages: int, outage: float, rate: int) -> dict[str, float]:
    server = Server(tmp / "js")
    server.start()
    try:
        store = SqliteEventStore(str(tmp / "relay.db"))
        store.init()
        enqueue(store, 0, messages)
        bus = NatsBus(server.url, timeout=1.0)
        bus.connect()
        relay = outbox.OutboxRelay(store, bus=bus, batch_size=500)
        t0 = time.perf_counter()
        report = relay.run_once()
        throughput_s = time.perf_counter() - t0
        assert report.delivered == messages, report
        # drain after an outage: a steady producer, kill -9 the server, keep producing, restart
        stop = threading.Event()
        worker = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle": 0.02, "max_backoff": 1.0})
        worker.start()
        total = messages

        def produce(seconds: float) -> None:
            nonlocal total
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                enqueue(store, total, rate // 10)
                total += rate // 10
                time.sleep(0.1)

        produce(3)
        server.kill()
        t_kill = time.monotonic()
        produce(outage)
        backlog = outbox.counts(store)["pending"]
        server.start()
        t_restart = time.monotonic()
        producer = threading.Thread(target=produce, args=(5,))
        producer.start()
        drained_at = None
        while time.monotonic() - t_restart < 120:
            if not store.outbox_entries(status="pending", limit=1, due_before=None):
                drained_at = time.monotonic()
                break
            time.sleep(0.02)
        producer.join()
        outbox.sleep_until_drained(store, 60)
        stop.set()
        worker.join(10)
        stored = bus.stream_info()["messages"]
        counts = outbox.counts(store)
        bus.close()
        store.close()
        return {"messages": messages, "seconds": round(throughput_s, 2),
                "messages_per_s": round(messages / throughput_s), "outage_s": round(t_restart - t_kill, 1),
                "backlog_at_restart": backlog,
                "drain_s_after_restart": round(drained_at - t_restart, 2) if drained_at else -1.0,
                "published_total": total, "stored_in_stream": stored, "dead": counts["dead"],
                "lost": total - stored}
    finally:
        server.kill()


# --- reconciliation ------------------------------------------------------------------------------

def bench_reconcile(rows: int, per_class: int) -> dict[str, float]:
    skus = 1000
    sites = rows // skus
    rng = np.random.default_rng(7)
    sku_ids = np.array([f"SKU-{i:05d}" for i in range(skus)])
    site_ids = np.array([f"SITE-{j:04d}" for j in range(sites)])
    ours = pd.DataFrame({"sku": np.repeat(sku_ids, sites)[: rows - per_class],
                         "site": np.tile(site_ids, skus)[: rows - per_class]})
    n = len(ours)
    ours["on_hand"] = rng.integers(0, 500, n)
    ours["in_transit"] = rng.integers(0, 3, n) * rng.integers(0, 50, n)
    ours["last_event_at"] = "2026-11-25T00:00:00+00:00"
    lotted = rng.choice(n, size=max(per_class * 3, n // 50), replace=False)
    lotted = lotted[ours["on_hand"].to_numpy()[lotted] >= 2]
    lots = pd.DataFrame({"sku": ours["sku"].to_numpy()[lotted], "site": ours["site"].to_numpy()[lotted],
                         "lot": "L1", "on_hand": ours["on_hand"].to_numpy()[lotted] // 2})
    packs = {s: (6 if i % 3 == 0 else 1) for i, s in enumerate(sku_ids)}
    known_skus, known_sites = set(sku_ids), set(site_ids)
    t0 = time.perf_counter()
    theirs, truth = rc.seeded_snapshot(ours, lots, packs, per_class=per_class, seed=3, known_skus=known_skus,
                                       known_sites=known_sites, as_of="2026-11-26T00:00:00+00:00")
    seed_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = rc.reconcile(ours, theirs, known_skus=known_skus, known_sites=known_sites, pack_sizes=packs,
                          ours_lots=lots)
    classify_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    proposals = result.proposals()
    propose_s = time.perf_counter() - t2
    scores = rc.score(result.discrepancies, truth)
    return {"rows_ours": n, "rows_theirs": len(theirs), "joined_rows": len(result.rows),
            "seeded": len(truth), "classify_s": round(classify_s, 2), "proposals": len(proposals),
            "propose_s": round(propose_s, 2), "seed_setup_s": round(seed_s, 2),
            "precision": scores["overall"]["precision"], "recall": scores["overall"]["recall"],
            "min_class_precision": min(v["precision"] for v in scores.values()),
            "min_class_recall": min(v["recall"] for v in scores.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["epcis", "relay", "reconcile"])
    args = parser.parse_args()
    sizes = {"events": 2_000, "messages": 2_000, "outage": 3.0, "rate": 500, "rows": 100_000, "per_class": 100} \
        if args.quick else {"events": 20_000, "messages": 20_000, "outage": 30.0, "rate": 500, "rows": 1_000_000,
                            "per_class": 1000}
    out: dict[str, object] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "epcis"):
            out["epcis_ingest"] = bench_epcis(tmp, sizes["events"])
            print(json.dumps(out["epcis_ingest"]), flush=True)
        if args.only in (None, "relay"):
            out["relay_nats"] = bench_relay(tmp, sizes["messages"], sizes["outage"], sizes["rate"])
            print(json.dumps(out["relay_nats"]), flush=True)
        if args.only in (None, "reconcile"):
            out["reconcile"] = bench_reconcile(sizes["rows"], sizes["per_class"])
            print(json.dumps(out["reconcile"]), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
