"""What `stockmesh audit verify` costs as the ledger grows: time and peak memory.

    .venv/bin/python benchmarks/bench_audit.py [--events 100000 400000] [--positions 2000]

For each size, a SQLite ledger of that many events (receipts and shipments over ``--positions``
SKU x site positions, each command its own idempotency key) is written, then every check of
``service.audit.audit`` runs in a fresh process, which reports its wall time and peak RSS. The
states, keys, governance and chain passes read pages and chunks, so their memory should not grow
with the events; the read-model check holds the read models (one row per position and snapshot),
as `replay --verify` does.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

CHILD = """
import resource, sys, time
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.audit import audit
store = SqliteEventStore(sys.argv[1])
began = time.perf_counter()
report = audit(store, read_models=sys.argv[2] == "1")
elapsed = time.perf_counter() - began
assert report.ok, report.findings
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, report.events)
"""


def build(path: Path, events: int, positions: int) -> None:
    from stockmesh.domain.commands import parse_command
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.projections.runner import catch_up
    from stockmesh.service.execute import execute

    store = SqliteEventStore(str(path))
    store.init()
    skus, sites = max(1, positions // 20), 20
    setup = [{"command": "RegisterSku", "sku": f"SKU-{i:05d}"} for i in range(skus)]
    setup += [{"command": "RegisterSite", "site": f"SITE-{j:02d}", "kind": "store", "negative_stock": "allow"}
              for j in range(sites)]
    execute(store, [parse_command({**c, "idempotency_key": f"setup-{i}"}) for i, c in enumerate(setup)])
    written = len(setup)
    batch = 5_000
    n = 0
    while written < events:
        commands = []
        for _ in range(min(batch, events - written)):
            name = "ReceiveStock" if n % 3 == 0 else "ShipStock"
            commands.append(parse_command({"command": name, "sku": f"SKU-{n % skus:05d}",
                                           "site": f"SITE-{(n // skus) % sites:02d}", "qty": 2 if n % 3 else 5,
                                           "idempotency_key": f"k-{n}"}))
            n += 1
        execute(store, commands)
        written += len(commands)
    catch_up(store)
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--positions", type=int, default=2000)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as folder:
        for events in args.events:
            path = Path(folder) / f"ledger-{events}.db"
            began = time.perf_counter()
            build(path, events, args.positions)
            built = time.perf_counter() - began
            for read_models in ("0", "1"):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path), read_models], check=True,
                                     capture_output=True, text=True).stdout.split()
                seconds, rss_kb, count = float(out[0]), int(out[1]), int(out[2])
                what = "every check" if read_models == "1" else "without read models"
                print(f"{count:>9} events ({built:.0f} s to write): {what}: {seconds:.1f} s, "
                      f"peak RSS {rss_kb / 1024:.0f} MB, {seconds / count * 1e6:.1f} us/event")
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
