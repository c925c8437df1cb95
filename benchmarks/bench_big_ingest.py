"""A big JSON-lines ingest: peak memory, time, and how long an interactive write waits meanwhile.

    .venv/bin/python benchmarks/bench_big_ingest.py [--mb 2048] [--mode all|continue|both] [--keep DIR]

Generates a file of about ``--mb`` megabytes of valid commands (the ledger benchmark's mix:
receipts, shipments, transfers, reservations over 2,000 SKUs x 20 sites), then for each mode runs
``stockmesh ingest FILE`` (``all``: all or nothing, the default; ``continue``: with
``--continue-on-error``) as a process of its own on a fresh SQLite ledger and, meanwhile:
- samples the resident memory of that process and its helpers (fingerprint worker, writer
  process) every 50 ms: the peak is of their sum;
- from this process, writes one ``ReceiveStock`` every 0.25 s through ``execute`` on its own
  connection (an interactive write, as the API does) and times each: how long it waited for the
  ingest's write lock, and then committed.
It prints the command, machine and date with: wall time, events written, events/s, peak RSS, and
the interactive writes' count, median, p99 and max latency. Run it against another checkout with
``PYTHONPATH=OTHER/src`` for a before/after on the same machine and file.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from stockmesh.domain.commands import parse_command
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.execute import execute
from stockmesh.simulation.synthetic_ledger import CommandGenerator

PROBE_SKU, PROBE_SITE = "PROBE-SKU", "PROBE-SITE"


def generate(path: Path, megabytes: float) -> tuple[int, int]:
    """About ``megabytes`` of commands: a sample gives the bytes per event, then the file is written."""
    sample = path.with_suffix(".sample")
    _, sample_events = CommandGenerator(2_000, 20, seed=7).write(sample, 50_000)
    per_event = sample.stat().st_size / sample_events
    sample.unlink()
    return CommandGenerator(2_000, 20, seed=7).write(path, int(megabytes * 1e6 / per_event))


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(file: Path, db: Path, continue_on_error: bool) -> dict[str, float]:
    store = SqliteEventStore(str(db), busy_timeout_s=3_600)
    store.init()
    execute(store, [parse_command({"command": "RegisterSku", "sku": PROBE_SKU, "idempotency_key": "probe-sku"}),
                    parse_command({"command": "RegisterSite", "site": PROBE_SITE, "idempotency_key": "probe-site"})])
    argv = [sys.executable, "-m", "stockmesh.entrypoints.cli", "ingest", str(file), "--db", f"sqlite:///{db}"]
    if continue_on_error:
        argv.append("--continue-on-error")
    waits: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            command = parse_command({"command": "ReceiveStock", "sku": PROBE_SKU, "site": PROBE_SITE, "qty": 1,
                                     "idempotency_key": f"probe-{n}"})
            started = time.perf_counter()
            execute(store, [command])
            waits.append(time.perf_counter() - started)
            stop.wait(0.25)

    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(watched))
        except psutil.Error:
            pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    prober.join()
    out, err = proc.communicate()
    events = store.count_events() - 2 - len(waits)
    store.close()
    with sqlite3.connect(db) as conn:  # the states an ingest keeps are one per stream it touches
        streams = conn.execute("SELECT COUNT(*) FROM streams").fetchone()[0]
    if proc.returncode != 0:
        print(f"ingest exited {proc.returncode}: {err.strip()[-2000:]}")
    ordered = sorted(waits)
    return {"seconds": elapsed, "events": events, "events_per_s": events / elapsed, "peak_rss_mb": peak / 2**20,
            "streams": streams, "writes": len(waits), "write_median_s": statistics.median(ordered) if ordered else 0.0,
            "write_p99_s": ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0,
            "write_max_s": ordered[-1] if ordered else 0.0, "exit": proc.returncode, "output": out.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=2048.0, help="size of the generated file (MB)")
    parser.add_argument("--mode", choices=("all", "continue", "both"), default="both")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the file (reused if it is there)")
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB; date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    with tempfile.TemporaryDirectory(dir=args.keep) as scratch:
        folder = args.keep or Path(scratch)
        file = folder / f"big-{int(args.mb)}mb.jsonl"
        if not file.exists():
            t0 = time.perf_counter()
            commands, events = generate(file, args.mb)
            print(f"file: {file.stat().st_size / 1e6:.0f} MB, {commands:,} commands, {events:,} events "
                  f"(generated in {time.perf_counter() - t0:.0f} s)")
        else:
            print(f"file: {file.stat().st_size / 1e6:.0f} MB (kept from an earlier run)")
        for mode in (("all", "continue") if args.mode == "both" else (args.mode,)):
            db = Path(scratch) / f"{mode}.db"
            result = run(file, db, continue_on_error=mode == "continue")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            print(f"{mode}: {result['seconds']:.1f} s, {result['events']:,.0f} events, "
                  f"{result['events_per_s']:,.0f} events/s, {result['streams']:,.0f} streams, "
                  f"peak RSS {result['peak_rss_mb']:,.0f} MB; "
                  f"{result['writes']:.0f} interactive writes meanwhile: median {result['write_median_s']:.3f} s, "
                  f"p99 {result['write_p99_s']:.3f} s, max {result['write_max_s']:.3f} s; exit {result['exit']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
