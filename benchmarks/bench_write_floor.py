"""What one single-command write costs in SQLite alone, statement set by statement set.

    .venv/bin/python benchmarks/bench_write_floor.py [--commits 5000] [--rounds 5] [--ledger 200000]

On a scratch SQLite file with the store's tables and pragmas (WAL, synchronous=NORMAL, 64 MiB
cache, no autocheckpoint) and a ledger of ``--ledger`` events already in it, each variant runs
``--commits`` transactions of ``BEGIN IMMEDIATE`` ... ``COMMIT``, values computed beforehand, no
hashing, no deciding: only what SQLite does. The variants, from nothing to our whole write:

- ``empty``: BEGIN IMMEDIATE and COMMIT;
- ``event``: one event row (its table and its UNIQUE(stream_id, version) index);
- ``lean``: the least a ledger write with idempotency can do: the head read from the last event,
  the key looked up, the event row, the key row;
- ``store``: what ``SqlWriteSession`` issues for one event: head row read, key lookup, event row,
  stream-state upsert, key row, head row update.

It prints the median microseconds per commit of ``--rounds`` rounds (variants interleaved, so a
slow spell of the machine hits them all) and the rate each would allow. Compare with
eventsourcing's one save per event in ``python -m benchmarks.ledger`` on the same machine: 3x that
rate leaves 1/3 of its time per command for everything, Python included.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from stockmesh.ledger.sqlite import SqliteEventStore

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536",
           "PRAGMA wal_autocheckpoint=0")
INSERT_EVENT = ("INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, occurred_at, "
                "recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_KEY = ("INSERT INTO idempotency (key, payload_hash, first_position, last_position, recorded_at) "
              "VALUES (?, ?, ?, ?, ?)")
LOOKUP_KEY = "SELECT key, payload_hash, first_position, last_position, recorded_at FROM idempotency WHERE key = ?"
UPSERT_STATE = ("INSERT INTO streams (stream_id, version, state) VALUES (?, ?, ?) ON CONFLICT (stream_id) "
                "DO UPDATE SET version = excluded.version, state = excluded.state")
STAMP = "2026-11-26T10:00:00.000000+00:00"
DATA = '{"qty":5,"lot":null,"expiry":null}'
STATE = '{"on_hand":5,"reserved":0,"in_transit":0,"on_order":0,"backordered":0,"quarantined":0,"flagged":false,"lots":{}}'
VARIANTS = ("empty", "event", "lean", "store")


class Ledger:
    """A scratch ledger with the store's schema, and the next position and versions to write."""

    def __init__(self, path: Path, events: int, streams: int, rng: random.Random) -> None:
        SqliteEventStore(str(path)).init()
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            self.conn.execute(pragma)
        self.rng = rng
        self.streams = [f"stock:SKU{i // 20:05d}@SITE{i % 20:02d}" for i in range(streams)]
        self.versions = dict.fromkeys(self.streams, 0)
        self.position = 0
        self.keys = 0
        rows = [self._event() for _ in range(events)]
        self.conn.execute("BEGIN")
        self.conn.executemany(INSERT_EVENT, rows)
        self.conn.executemany(INSERT_KEY, [(self._key(), "f" * 32, r[0], r[0], STAMP) for r in rows])
        self.conn.executemany(UPSERT_STATE, [(s, v, STATE) for s, v in self.versions.items() if v])
        self.conn.execute("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (self.position, "c" * 64))
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _key(self) -> str:
        self.keys += 1
        return f"bench-{self.keys}-{self.rng.random()}"

    def _event(self) -> tuple[object, ...]:
        stream = self.rng.choice(self.streams)
        self.versions[stream] += 1
        self.position += 1
        return (self.position, stream, self.versions[stream], "StockReceived", 1, DATA,
                '{"command":"ReceiveStock","idempotency_key":"k"}', STAMP, STAMP, "a" * 64, "c" * 64)

    def run(self, variant: str, commits: int) -> float:
        """Seconds for ``commits`` transactions of ``variant``."""
        work = [(self._event(), self._key()) for _ in range(commits)] if variant != "empty" else []
        execute = self.conn.execute
        started = time.perf_counter()
        if variant == "empty":
            for _ in range(commits):
                execute("BEGIN IMMEDIATE")
                execute("COMMIT")
        for event, key in work:
            execute("BEGIN IMMEDIATE")
            if variant == "lean":
                execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
                execute(LOOKUP_KEY, (key,)).fetchall()
            elif variant == "store":
                execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone()
                execute(LOOKUP_KEY, (key,)).fetchall()
            execute(INSERT_EVENT, event)
            if variant == "store":
                execute(UPSERT_STATE, (event[1], event[2], STATE))
            if variant in ("lean", "store"):
                execute(INSERT_KEY, (key, "f" * 32, event[0], event[0], STAMP))
            if variant == "store":
                execute("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (event[0], event[-1]))
            execute("COMMIT")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ledger", type=int, default=200_000, help="events in the ledger before the commits")
    parser.add_argument("--streams", type=int, default=40_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger(Path(folder) / "floor.db", args.ledger, args.streams, random.Random(20261126))
        micros: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for variant in VARIANTS:
                micros[variant].append(ledger.run(variant, args.commits) / args.commits * 1e6)
        ledger.conn.close()
    print(f"SQLite {sqlite3.sqlite_version}; {args.commits:,} commits per variant and round, "
          f"{args.rounds} rounds, ledger of {args.ledger:,} events")
    print(f"{'variant':<8} {'median us/commit':>17} {'min - max':>17} {'commits/s':>10}")
    for variant, values in micros.items():
        median = statistics.median(values)
        print(f"{variant:<8} {median:>17.1f} {min(values):>8.1f} - {max(values):<7.1f} {1e6 / median:>10,.0f}")


if __name__ == "__main__":
    main()
