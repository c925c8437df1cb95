"""The whole ledger benchmark: the large replay first, then each backend's runs and the references."""

from __future__ import annotations

import contextlib
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.ledger.backend import run_backend
from benchmarks.ledger.config import BenchConfig
from benchmarks.ledger.floor import floor_executemany, floor_single
from benchmarks.ledger.large_replay import large_replay
from benchmarks.ledger.machine import machine_info
from benchmarks.ledger.peer import _EsApplication, peer_eventsourcing
from benchmarks.ledger.postgres import _drop_schema, _pg_server_version, pg_unavailable
from benchmarks.ledger.report import evaluate_targets
from benchmarks.ledger.stats import collect
from benchmarks.ledger.ui import Ui
from benchmarks.ledger.workload import Workload, build_workload

METHOD_NOTES = [
    "Every run starts from fresh database files (SQLite in a temp dir; PostgreSQL in a new schema, dropped after).",
    "batched append: ingest_file(update_views=False) of the generated JSON-lines file, one transaction; "
    "reading and validating the file is included; from 2 MB on (and with a second core) helper processes "
    "compute the idempotency fingerprints (service/bulk/fingerprints.py) and seal and insert the events as they "
    "are decided (ledger/bulk/writer.py), in the same transaction.",
    "catch-up: catch_up() over the new ledger (one process); replay: replay() (fold everything again into fresh "
    "read models; from 250,000 events on, one worker process per core folds a partition of the streams).",
    "end-to-end: ingest_file() with the read models, into another fresh database.",
    "single-command append: execute() of one command at a time (receipts and sales, one event each), "
    "parsed beforehand; each its own transaction.",
    "ReserveStock latency: after one batch of receipts gives 2,000 positions ample stock, each ReserveStock "
    "is executed alone and timed with perf_counter_ns around execute().",
    "single-command SQL floor: on a copy of the run's ledger, the statements of one single-command write "
    "(BEGIN IMMEDIATE, head read, idempotency lookup, event insert, state upsert, idempotency insert, head "
    "update, COMMIT) per event, values computed beforehand.",
    "floor: the same event rows (all 11 columns, read back from the run's ledger) inserted with "
    "sqlite3 executemany in one transaction into a table with the same UNIQUE(stream_id, version) index; "
    "WAL, synchronous=NORMAL, cache_size=-65536 like the store; only the inserts and the commit are timed.",
    "peer: eventsourcing with PERSISTENCE_MODULE=eventsourcing.sqlite on a file DB, appending the same events "
    "(one aggregate per stockmesh stream; each event carries the stockmesh type and data).",
    "ratios to targets are medians of per-run ratios (both sides measured in the same run).",
    "large replay: the ledger is built in a subprocess (chunks of --chunk-lines commands, one ingest each), "
    "then replay() runs in a fresh subprocess that reports ru_maxrss and VmHWM; both are spawned before any "
    "other phase, while the parent is small (Linux carries ru_maxrss over fork and exec). Its peak RSS "
    "is the replay process's ru_maxrss plus each worker's own VmHWM (an upper bound).",
]


def command_line(argv: Sequence[str] | None = None) -> str:
    """The run as the equivalent ``python -m benchmarks.ledger ...`` command line (``argv`` as
    ``sys.argv``: the program, then its arguments)."""
    args = list(argv if argv is not None else sys.argv)
    return shlex.join(["python", "-m", "benchmarks.ledger", *args[1:]])


def run(cfg: BenchConfig, ui: Ui | None = None, *, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the whole ledger benchmark and return its JSON-ready result (see the module docstring)."""
    ui = ui or Ui(enabled=False)
    started_at = datetime.now(UTC)
    wall = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "python -m benchmarks.ledger",
        "date": started_at.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "argv": [sys.executable, *(argv if argv is not None else sys.argv)],
        "machine": machine_info(),
        "config": asdict(cfg),
        "notes": METHOD_NOTES,
    }
    base = Path(tempfile.mkdtemp(prefix="stockmesh-bench-", dir=cfg.tmp_dir))
    try:
        # First, while this process is still small: its children inherit its ru_maxrss.
        if cfg.replay_events > 0:
            work = base / "large"
            work.mkdir()
            try:
                result["large_replay"] = large_replay(cfg, work, ui)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        else:
            result["large_replay"] = {"skipped": "--replay-events 0"}
        with ui.task("generating the SQLite workload", cfg.events) as advance:
            wl = build_workload(base / "batch.jsonl", cfg, cfg.events, seed=cfg.seed, progress=advance)
        result["workload"] = {
            "skus": cfg.skus, "sites": cfg.sites, "commands": wl.commands, "events": wl.events,
            "mix": wl.mix, "file_bytes": wl.path.stat().st_size, "generate_seconds": wl.generate_seconds,
            "single_commands": len(wl.single), "reserve_commands": len(wl.reserve),
        }
        result["sqlite"], result["floor"], result["eventsourcing"] = _sqlite_runs(cfg, wl, base, ui)
        if cfg.pg_url:
            result["postgres"] = _pg_runs(cfg, base, ui, wl)
        else:
            result["postgres"] = {"skipped": "--no-pg"}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result["bench_process_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    result["wall_seconds"] = time.perf_counter() - wall
    result["targets"] = evaluate_targets(result)
    return result


def _sqlite_runs(cfg: BenchConfig, wl: Workload, base: Path, ui: Ui
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from stockmesh.ledger.sqlite import SqliteEventStore

    ours: list[dict[str, float]] = []
    floors: list[dict[str, float]] = []
    peers: list[dict[str, float]] = []
    peer_skip = None if _EsApplication is not None else "eventsourcing is not installed (the [bench] extra)"
    if not cfg.peer:
        peer_skip = "disabled"
    for index in range(cfg.runs):
        work = base / f"sqlite-run-{index + 1}"
        work.mkdir()

        def open_store(name: str, work: Path = work) -> Any:
            store = SqliteEventStore(str(work / f"{name}.db"))
            store.init()
            return store

        def drop_store(store: Any) -> None:
            store.close()
            for p in Path(store.path).parent.glob(Path(store.path).name + "*"):
                p.unlink(missing_ok=True)

        try:
            label = f"SQLite run {index + 1}/{cfg.runs}"
            figures, store = run_backend(open_store, drop_store, wl, ui, label, end_to_end=cfg.end_to_end)
            store.close()
            ours.append(figures.rates())
            source = work / "main.db"
            if cfg.floor:
                with ui.task(f"{label}: floor (raw executemany of the same rows)", None):
                    rows, seconds = floor_executemany(source, work / "floor.db", upto=figures.events)
                with ui.task(f"{label}: single-command SQL floor", None):
                    single_rows, single_seconds = floor_single(
                        source, work / "floor-single.db", first=figures.single_first_position + 1,
                        count=figures.single_events)
                floors.append({"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
                               "single_events": single_rows, "single_events_per_s": single_rows / single_seconds})
                for p in [*work.glob("floor.db*"), *work.glob("floor-single.db*")]:
                    p.unlink()
            if peer_skip is None:
                peer = peer_eventsourcing(
                    source, work, batch_last=figures.events, single_first=figures.single_first_position + 1,
                    single_count=min(cfg.peer_single, figures.single_events), batch_size=cfg.peer_batch,
                    default_count=min(500, cfg.peer_single, figures.single_events), ui=ui)
                peers.append({
                    "batched_events_per_s": peer.batched_events / peer.batched_s,
                    "single_events_per_s": peer.single_events / peer.single_s,
                    "single_default_settings_events_per_s": (
                        peer.single_default_events / peer.single_default_s if peer.single_default_s else None),
                    "batched_events": peer.batched_events,
                    "single_events": peer.single_events,
                })
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sqlite_out = collect(ours)
    floor_out = collect(floors) if floors else {"skipped": "disabled"}
    peer_out: dict[str, Any] = collect(peers) if peers else {"skipped": peer_skip}
    if peers:
        peer_out["method"] = (
            f"eventsourcing {machine_info().get('eventsourcing')}, PERSISTENCE_MODULE=eventsourcing.sqlite, file DB; "
            "one aggregate per stockmesh stream, each event carries the stockmesh event type and data; "
            f"batched: {cfg.peer_batch:,} events per Application.save (every aggregate they touch); "
            "single: one save per event, aggregates kept in memory (no repository.get); "
            "same SQLite settings as stockmesh (WAL, synchronous=NORMAL, cache_size=-65536); "
            "single_default_settings: the library's defaults (WAL, synchronous=FULL), first 500 events")
    return sqlite_out, floor_out, peer_out


def _pg_runs(cfg: BenchConfig, base: Path, ui: Ui, sqlite_wl: Workload) -> dict[str, Any]:
    assert cfg.pg_url is not None
    url = cfg.pg_url
    reason = pg_unavailable(url)
    if reason:
        ui.note(f"PostgreSQL skipped: {reason}")
        return {"skipped": reason}
    from stockmesh.ledger.postgres import PostgresEventStore

    n = cfg.pg_scale()
    if n >= sqlite_wl.events:
        wl = sqlite_wl
    else:  # a prefix of the same command stream (same seed), and the commands that follow it
        with ui.task("generating the PostgreSQL workload", n) as advance:
            wl = build_workload(base / "pg-batch.jsonl", cfg, n, seed=cfg.seed, progress=advance)
    runs: list[dict[str, float]] = []
    for index in range(cfg.runs):
        schemas: list[str] = []

        def open_store(name: str, schemas: list[str] = schemas) -> Any:
            schema = f"bench_{name}_{uuid.uuid4().hex[:10]}"
            schemas.append(schema)
            store = PostgresEventStore(url, schema=schema)
            store.init()
            return store

        def drop_store(store: Any) -> None:
            store.close()
            _drop_schema(url, store.schema)

        try:
            figures, store = run_backend(open_store, drop_store, wl, ui, f"PostgreSQL run {index + 1}/{cfg.runs}",
                                         end_to_end=cfg.end_to_end)
            drop_store(store)
            runs.append(figures.rates())
        finally:
            for schema in schemas:
                with contextlib.suppress(Exception):
                    _drop_schema(url, schema)
    out = collect(runs)
    out["events"] = wl.events
    out["server_version"] = _pg_server_version(url)
    out["url"] = url
    return out
