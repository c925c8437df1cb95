"""What signing the head costs a write: single-command writes with and without the key.

    .venv/bin/python benchmarks/bench_signed_head.py [--commits 2000] [--rounds 5]

With a ledger key every commit signs its new head (one HMAC-SHA256, whatever the number of events);
a write session also checks the head it extends (another HMAC) unless this store signed that head
itself, the common case. This measures
- ``sign`` and ``check``: ``chain.sign_head`` and ``chain.check_head`` alone, microseconds;
- ``unkeyed`` and ``keyed``: ``execute`` of one ShipStock per commit on a SQLite file, the same
  commands, rounds interleaved (a slow spell of the shared machine hits both), median and fastest
  round in microseconds per commit, and the keyed write's overhead.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from stockmesh.domain.commands import parse_command
from stockmesh.ledger.chain import check_head, sign_head
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.service.execute import execute

KEY = bytes(range(32))


def setup(path: Path, key: bytes | None) -> SqliteEventStore:
    store = SqliteEventStore(str(path))
    store.init()
    store.head_key = key
    execute(store, [parse_command(c) for c in (
        {"command": "RegisterSku", "sku": "OAT-MILK-1L", "idempotency_key": "s1"},
        {"command": "RegisterSite", "site": "STORE-LYON-02", "kind": "store", "negative_stock": "allow",
         "idempotency_key": "s2"})])
    return store


def writes(store: SqliteEventStore, start: int, count: int) -> float:
    commands = [parse_command({"command": "ShipStock", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 1,
                               "idempotency_key": f"w-{start + i}"}) for i in range(count)]
    began = time.perf_counter()
    for command in commands:
        execute(store, [command])
    return (time.perf_counter() - began) / count * 1e6


def hmac_cost(check: bool, count: int = 100_000) -> float:
    position, digest = 1_000_000, "ab" * 32
    signature = sign_head(KEY, position, digest)
    began = time.perf_counter()
    if check:
        for _ in range(count):
            check_head(KEY, position, digest, signature)
    else:
        for _ in range(count):
            sign_head(KEY, position, digest)
    return (time.perf_counter() - began) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as folder:
        stores = {"unkeyed": setup(Path(folder) / "unkeyed.db", None), "keyed": setup(Path(folder) / "keyed.db", KEY)}
        times: dict[str, list[float]] = {name: [] for name in stores}
        for round_ in range(args.rounds):
            for name, store in (stores.items() if round_ % 2 == 0 else reversed(stores.items())):
                times[name].append(writes(store, round_ * args.commits, args.commits))
        for store in stores.values():
            store.close()
    sign = statistics.median(hmac_cost(False) for _ in range(args.rounds))
    check = statistics.median(hmac_cost(True) for _ in range(args.rounds))
    plain, keyed = statistics.median(times["unkeyed"]), statistics.median(times["keyed"])
    best_plain, best_keyed = min(times["unkeyed"]), min(times["keyed"])
    print(f"sign: {sign:.2f} us (every keyed commit); check: {check:.2f} us (a head signed elsewhere)")
    print(f"unkeyed: {plain:.1f} us per commit (median of {args.rounds} rounds of {args.commits})")
    print(f"keyed: {keyed:.1f} us per commit; overhead {keyed - plain:+.1f} us ({(keyed / plain - 1) * 100:+.1f} %)")
    print(f"fastest round: unkeyed {best_plain:.1f} us, keyed {best_keyed:.1f} us per commit "
          f"({(best_keyed / best_plain - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
