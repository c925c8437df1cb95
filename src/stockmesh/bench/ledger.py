"""The ledger benchmark (``stockmesh bench ledger``): throughput, latency and replay against targets.

Everything is measured in one process run, on one machine, against two references measured in the
same run: the *floor* (a raw ``sqlite3.executemany`` of the very same event rows into a table with
the same unique index) and the *peer* (the ``eventsourcing`` library, 9.x, with its SQLite
persistence, appending the same number of events). Each figure is the median of ``runs`` runs, with
min and max; every run starts from a fresh database file.

Phases of one run (SQLite, then PostgreSQL with the same workload at ``pg_events``):

1. batched append: ``ingest_file(update_views=False)`` of a JSON-lines file of ~N events;
2. read-model catch-up: ``catch_up`` over the new ledger;
3. replay: ``replay`` (drop the read models, fold the whole ledger again);
4. single-command append: ``execute`` of one command at a time, each its own transaction;
5. ReserveStock latency: single ReserveStock commands against ample stock, each timed alone;
6. end-to-end ingest: ``ingest_file`` with the read models, into another fresh database.

Then, once: a ledger of M events is built in chunks and replayed in a fresh subprocess that reports
its own peak RSS (``ru_maxrss``).

The input files are generated beforehand (not timed) by ``CommandGenerator``: valid commands over
``skus`` x ``sites`` stock positions, mostly receipts and sales, with reservations (fulfilled or
released) and transfers (dispatched, then received). It tracks the stock it creates, so every
command is valid and the batch is written all or nothing.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import random
import resource
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
EVENT_COLUMNS = ("position", "stream_id", "version", "type", "schema_version", "data", "metadata",
                 "occurred_at", "recorded_at", "prev_hash", "hash")

# The ledger's targets (medians of the runs).
TARGET_BATCHED_EPS = 100_000.0
TARGET_VS_PEER_BATCHED = 2.5
TARGET_VS_PEER_SINGLE = 3.0
TARGET_RESERVE_P99_MS = 2.0
TARGET_REPLAY_EPS = 300_000.0
TARGET_REPLAY_RSS_MIB = 1024.0


@dataclass(slots=True)
class BenchConfig:
    """What to run. The defaults are the full scale the targets are set at."""

    events: int = 1_000_000
    replay_events: int = 10_000_000
    runs: int = 3
    pg_url: str | None = DEFAULT_PG_URL
    pg_events: int | None = None  # default: min(events, 200,000)
    single: int = 5_000
    reserve: int = 5_000
    peer_single: int = 5_000
    peer_batch: int = 10_000
    skus: int = 2_000
    sites: int = 20
    chunk_lines: int = 1_000_000
    seed: int = 20_260_101
    tmp_dir: str | None = None
    peer: bool = True
    floor: bool = True
    end_to_end: bool = True

    def pg_scale(self) -> int:
        return self.pg_events if self.pg_events is not None else min(self.events, 200_000)


# ------------------------------------------------------------------------------------------------
# Workload
# ------------------------------------------------------------------------------------------------

# Events each command appends (see domain/decide.py; no lots, no negative stock, so no flags).
EVENTS_PER_COMMAND = {
    "RegisterSku": 1, "RegisterSite": 1, "ReceiveStock": 1, "ShipStock": 1, "ReserveStock": 2,
    "FulfilReservation": 2, "ReleaseReservation": 2, "DispatchTransfer": 3, "ReceiveTransfer": 2,
}
# Share of commands attempted, in order (a command that is not possible falls back to a receipt).
MIX = (("ReceiveStock", 0.40), ("ShipStock", 0.40), ("ReserveStock", 0.07), ("FulfilReservation", 0.04),
       ("ReleaseReservation", 0.02), ("DispatchTransfer", 0.035), ("ReceiveTransfer", 0.035))


class CommandGenerator:
    """Valid commands over ``skus`` x ``sites`` positions, as JSON lines, tracking the stock they make.

    Deterministic for a seed. Successive calls continue from the state the earlier commands left,
    so a file and the commands generated after it can be applied in that order."""

    def __init__(self, skus: int, sites: int, *, seed: int, prefix: str = "b") -> None:
        self.n_skus, self.n_sites = skus, sites
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.sku_ids = [f"SKU-{i:06d}" for i in range(skus)]
        self.site_ids = [f"DC-{i:02d}" if i < max(1, sites // 10) else f"STORE-{i:03d}" for i in range(sites)]
        self.on_hand = [0] * (skus * sites)
        self.reserved = [0] * (skus * sites)
        self.reservations: list[tuple[str, int, int]] = []  # (id, position index, qty)
        self.transfers: deque[tuple[str, int, int]] = deque()  # (id, destination index, qty), oldest first
        self.serial = 0
        self.counts: dict[str, int] = {}
        self.registered = False

    def _key(self) -> str:
        self.serial += 1
        return f"{self.prefix}-{self.serial}"

    def _count(self, name: str) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        return EVENTS_PER_COMMAND[name]

    def _pick(self) -> int:
        """A stock position: SKUs skewed (a few sell a lot), sites uniform."""
        r = self.rng.random()
        return int(self.n_skus * r * r) * self.n_sites + int(self.rng.random() * self.n_sites)

    def registrations(self) -> tuple[list[str], int]:
        """RegisterSite and RegisterSku lines (once per generator)."""
        if self.registered:
            return [], 0
        self.registered = True
        lines: list[str] = []
        events = 0
        for site in self.site_ids:
            kind = "dc" if site.startswith("DC-") else "store"
            lines.append(f'{{"command":"RegisterSite","idempotency_key":"{self._key()}","site":"{site}",'
                         f'"kind":"{kind}"}}\n')
            events += self._count("RegisterSite")
        for i, sku in enumerate(self.sku_ids):
            lines.append(f'{{"command":"RegisterSku","idempotency_key":"{self._key()}","sku":"{sku}",'
                         f'"unit_cost":{1 + i % 50}.25,"pack_size":{(6, 12, 24)[i % 3]}}}\n')
            events += self._count("RegisterSku")
        return lines, events

    def _receive(self, pos: int) -> tuple[str, int]:
        qty = 12 * self.rng.randint(1, 8)
        self.on_hand[pos] += qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        return (f'{{"command":"ReceiveStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n', self._count("ReceiveStock"))

    def _ship(self, pos: int, available: int) -> tuple[str, int]:
        qty = min(available, self.rng.randint(1, 12))
        self.on_hand[pos] -= qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        return (f'{{"command":"ShipStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n', self._count("ShipStock"))

    def next_line(self, *, kinds: str = "mix") -> tuple[str, int]:
        """One command as a JSON line, and the number of events it will append.

        ``kinds``: ``mix`` (the whole mix), ``receive_ship`` (one event each)."""
        rng = self.rng
        pos = self._pick()
        available = self.on_hand[pos] - self.reserved[pos]
        if kinds == "receive_ship":
            return self._ship(pos, available) if available > 0 and rng.random() < 0.5 else self._receive(pos)
        u = rng.random()
        if u < 0.40:
            return self._receive(pos)
        if u < 0.80:
            return self._ship(pos, available) if available > 0 else self._receive(pos)
        if u < 0.87:
            if available <= 0:
                return self._receive(pos)
            qty = min(available, rng.randint(1, 6))
            self.reserved[pos] += qty
            rid = f"R-{self.prefix}-{self.serial + 1}"
            self.reservations.append((rid, pos, qty))
            sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
            return (f'{{"command":"ReserveStock","idempotency_key":"{self._key()}","reservation_id":"{rid}",'
                    f'"sku":"{sku}","site":"{site}","qty":{qty}}}\n', self._count("ReserveStock"))
        if u < 0.93:
            if not self.reservations:
                return self._receive(pos)
            i = rng.randrange(len(self.reservations))
            self.reservations[i], self.reservations[-1] = self.reservations[-1], self.reservations[i]
            rid, rpos, qty = self.reservations.pop()
            self.reserved[rpos] -= qty
            name = "FulfilReservation" if u < 0.91 else "ReleaseReservation"
            if name == "FulfilReservation":
                self.on_hand[rpos] -= qty
            return (f'{{"command":"{name}","idempotency_key":"{self._key()}","reservation_id":"{rid}"}}\n',
                    self._count(name))
        if u < 0.965:
            if available <= 0:
                return self._receive(pos)
            qty = min(available, rng.randint(1, 24))
            src = pos % self.n_sites
            dst = (src + 1 + int(rng.random() * (self.n_sites - 1))) % self.n_sites
            if dst == src:
                return self._receive(pos)
            self.on_hand[pos] -= qty
            tid = f"T-{self.prefix}-{self.serial + 1}"
            dpos = pos - src + dst
            self.transfers.append((tid, dpos, qty))
            sku = self.sku_ids[pos // self.n_sites]
            return (f'{{"command":"DispatchTransfer","idempotency_key":"{self._key()}","transfer_id":"{tid}",'
                    f'"sku":"{sku}","from_site":"{self.site_ids[src]}","to_site":"{self.site_ids[dst]}",'
                    f'"qty":{qty}}}\n', self._count("DispatchTransfer"))
        if not self.transfers:
            return self._receive(pos)
        tid, dpos, qty = self.transfers.popleft()
        self.on_hand[dpos] += qty
        return (f'{{"command":"ReceiveTransfer","idempotency_key":"{self._key()}","transfer_id":"{tid}",'
                f'"qty":{qty}}}\n', self._count("ReceiveTransfer"))

    def write(self, path: Path, target_events: int, *, max_lines: int | None = None, kinds: str = "mix",
              progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Write commands (registrations first, once) until ``target_events`` events or ``max_lines``
        lines; return (commands, events)."""
        lines, events = self.registrations()
        commands = len(lines)
        buffer: list[str] = list(lines)
        reported = 0
        limit = max_lines if max_lines is not None else sys.maxsize
        with path.open("w", encoding="utf-8") as handle:
            while events < target_events and commands < limit:
                line, n = self.next_line(kinds=kinds)
                buffer.append(line)
                events += n
                commands += 1
                if len(buffer) >= 50_000:
                    handle.write("".join(buffer))
                    buffer.clear()
                    if progress:
                        progress(events - reported)
                        reported = events
            handle.write("".join(buffer))
        if progress:
            progress(events - reported)
        return commands, events

    def lines(self, count: int, *, kinds: str = "mix") -> tuple[list[str], int]:
        """``count`` more commands as JSON lines; return them and their events."""
        out, events = [], 0
        for _ in range(count):
            line, n = self.next_line(kinds=kinds)
            out.append(line)
            events += n
        return out, events

    def top_up(self, positions: int, qty: int) -> tuple[list[str], list[int]]:
        """ReceiveStock of ``qty`` on ``positions`` distinct positions: ample stock for reservations."""
        chosen = self.rng.sample(range(self.n_skus * self.n_sites), min(positions, self.n_skus * self.n_sites))
        return [self._receive_exact(p, qty) for p in chosen], chosen

    def _receive_exact(self, pos: int, qty: int) -> str:
        self.on_hand[pos] += qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        self._count("ReceiveStock")
        return (f'{{"command":"ReceiveStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n')

    def reserve_lines(self, count: int, positions: Sequence[int]) -> list[str]:
        """ReserveStock of 1 to 3 units, each on a random one of ``positions``."""
        out = []
        for _ in range(count):
            pos = positions[int(self.rng.random() * len(positions))]
            qty = self.rng.randint(1, 3)
            if self.on_hand[pos] - self.reserved[pos] < qty:
                raise RuntimeError("top-up too small for the reservations")
            self.reserved[pos] += qty
            rid = f"R-{self.prefix}-{self.serial + 1}"
            sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
            self._count("ReserveStock")
            out.append(f'{{"command":"ReserveStock","idempotency_key":"{self._key()}","reservation_id":"{rid}",'
                       f'"sku":"{sku}","site":"{site}","qty":{qty}}}\n')
        return out


@dataclass(slots=True)
class Workload:
    """The input of one backend's runs: the batch file and the commands to apply after it."""

    path: Path
    commands: int
    events: int
    single: list[str]  # one-event commands (receipts and sales), executed one at a time
    top_up: list[str]  # one batch: ample stock on the positions the reservations use
    reserve: list[str]  # ReserveStock, executed and timed one at a time
    mix: dict[str, int] = field(default_factory=dict)
    generate_seconds: float = 0.0


def build_workload(path: Path, cfg: BenchConfig, target_events: int, *, seed: int,
                   progress: Callable[[int], None] | None = None) -> Workload:
    """Generate the batch file of ~``target_events`` events and the commands that follow it."""
    started = time.perf_counter()
    gen = CommandGenerator(cfg.skus, cfg.sites, seed=seed)
    commands, events = gen.write(path, target_events, progress=progress)
    mix = dict(gen.counts)
    single, _ = gen.lines(cfg.single, kinds="receive_ship")
    top_up, positions = gen.top_up(min(2_000, cfg.skus * cfg.sites), 1_000_000)
    reserve = gen.reserve_lines(cfg.reserve, positions)
    return Workload(path, commands, events, single, top_up, reserve, mix, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------
# Helpers: statistics, machine, progress
# ------------------------------------------------------------------------------------------------

def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of the runs' values (and the values themselves)."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": vals}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    k = (len(sorted_values) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[1])
        return out.stdout.rstrip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _uncommitted_code() -> list[str] | None:
    """Files of the measured code paths that differ from the commit (others edit the same tree)."""
    out = _git("status", "--porcelain", "--", "domain", "ledger", "projections", "service", "bootstrap.py")
    return None if out is None else [line[3:] for line in out.splitlines() if line.strip()]


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, Python, SQLite and library versions, load average."""
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": list(os.getloadavg()),
        "code_path": str(Path(__file__).resolve().parents[2]),
        "git_commit": _git("rev-parse", "HEAD"),
        "uncommitted_measured_code": _uncommitted_code(),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        info["eventsourcing"] = version("eventsourcing")
    except Exception:  # noqa: BLE001 - not installed
        info["eventsourcing"] = None
    return info


class Ui:
    """Rich progress bars on stderr for the long phases, and notes; silent when stderr is not a TTY."""

    def __init__(self, console: Any = None, *, enabled: bool | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console or Console(stderr=True)
        show = self.console.is_terminal if enabled is None else enabled
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 disable=not show, transient=False)
        self.quiet = not show

    def __enter__(self) -> Ui:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        task_id = self.progress.add_task(description, total=total)
        started = time.perf_counter()

        def advance(n: int) -> None:
            self.progress.advance(task_id, n)

        try:
            yield advance
        finally:
            self.progress.remove_task(task_id)
            self.note(f"done: {description} ({time.perf_counter() - started:.1f} s)")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.progress.console.print(f"[dim]{message}[/dim]")


def _parse(lines: Sequence[str]) -> list[tuple[Any, dict[str, Any]]]:
    import orjson

    from stockmesh.domain.commands import parse_command

    out = []
    for line in lines:
        obj = orjson.loads(line)
        out.append((parse_command(obj), obj))
    return out


# ------------------------------------------------------------------------------------------------
# stockmesh on one backend: one run
# ------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class BackendRun:
    """The figures of one run on one backend (rates in events per second, latencies in ms)."""

    events: int = 0
    append_s: float = 0.0
    catch_up_s: float = 0.0
    replay_s: float = 0.0
    end_to_end_s: float | None = None
    single_commands: int = 0
    single_events: int = 0
    single_s: float = 0.0
    reserve_ms: list[float] = field(default_factory=list)
    jitter_ms: list[float] = field(default_factory=list)
    single_first_position: int = 0  # the single-command events are (single_first_position, +single_events]

    def rates(self) -> dict[str, float]:
        out = {
            "batched_append_events_per_s": self.events / self.append_s,
            "catch_up_events_per_s": self.events / self.catch_up_s,
            "replay_events_per_s": self.events / self.replay_s,
            "single_command_events_per_s": self.single_events / self.single_s,
            "single_command_commands_per_s": self.single_commands / self.single_s,
        }
        if self.end_to_end_s:
            out["end_to_end_ingest_events_per_s"] = self.events / self.end_to_end_s
        if self.reserve_ms:
            ordered = sorted(self.reserve_ms)
            out["reserve_p50_ms"] = percentile(ordered, 50)
            out["reserve_p99_ms"] = percentile(ordered, 99)
            out["reserve_max_ms"] = ordered[-1]
        if self.jitter_ms:
            ordered = sorted(self.jitter_ms)
            out["jitter_reference_p50_ms"] = percentile(ordered, 50)
            out["jitter_reference_p99_ms"] = percentile(ordered, 99)
        return out


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def jitter_reference(target_ms: float, count: int) -> list[float]:
    """How noisy the machine is: ``count`` timings of a CPU-only loop calibrated to ``target_ms``
    (the ReserveStock median). No I/O, no locks: its p99 above its p50 is scheduling noise."""
    n = 1_000
    while True:
        started = time.perf_counter_ns()
        _spin(n)
        took = (time.perf_counter_ns() - started) / 1e6
        if took >= target_ms or n > 10**8:
            break
        n = int(n * max(1.2, min(10.0, target_ms / max(took, 1e-4))))
    n = max(1, int(n * target_ms / took)) if took > 0 else n
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        started = clock()
        _spin(n)
        out.append((clock() - started) / 1e6)
    return out


def run_backend(open_store: Callable[[str], Any], drop_store: Callable[[Any], None], wl: Workload,
                ui: Ui, label: str, *, end_to_end: bool = True) -> tuple[BackendRun, Any]:
    """One run of every stockmesh phase on fresh stores from ``open_store(name)``.

    Returns the figures and the main store, left in place for the references to read its rows:
    the caller drops it with ``drop_store``."""
    from stockmesh.projections.runner import catch_up, replay
    from stockmesh.service.execute import execute
    from stockmesh.service.ingest import ingest_file

    out = BackendRun()
    store = open_store("main")
    try:
        gc.collect()
        with ui.task(f"{label}: batched append ({wl.events:,} events)", None):
            started = time.perf_counter()
            report = ingest_file(store, wl.path, update_views=False)
            out.append_s = time.perf_counter() - started
        if report.rejected or report.events != wl.events:
            raise RuntimeError(f"{label}: the batch did not apply as generated "
                               f"({report.events} events, {len(report.rejected)} rejected)")
        out.events = report.events
        gc.collect()
        with ui.task(f"{label}: read-model catch-up", out.events) as advance:
            started = time.perf_counter()
            folded = catch_up(store, progress=advance)
            out.catch_up_s = time.perf_counter() - started
        gc.collect()
        with ui.task(f"{label}: replay", out.events) as advance:
            started = time.perf_counter()
            replayed = replay(store, progress=advance)
            out.replay_s = time.perf_counter() - started
        if folded != out.events or replayed != out.events:
            raise RuntimeError(f"{label}: folded {folded} / replayed {replayed} of {out.events} events")

        singles = _parse(wl.single)
        out.single_first_position = store.head()[0]
        gc.collect()
        with ui.task(f"{label}: single-command append", len(singles)) as advance:
            events = 0
            started = time.perf_counter()
            for command, _payload in singles:
                events += execute(store, [command])[0].events
            out.single_s = time.perf_counter() - started
            advance(len(singles))
        out.single_commands, out.single_events = len(singles), events

        top_up = _parse(wl.top_up)
        execute(store, [c for c, _ in top_up])
        reserves = _parse(wl.reserve)
        gc.collect()
        clock = time.perf_counter_ns
        samples = []
        with ui.task(f"{label}: ReserveStock latency", len(reserves)) as advance:
            for command, _payload in reserves:
                started_ns = clock()
                outcome = execute(store, [command])[0]
                samples.append((clock() - started_ns) / 1e6)
                if outcome.status != "applied":
                    raise RuntimeError(f"{label}: a reservation was not applied: {outcome}")
            advance(len(reserves))
        out.reserve_ms = samples
        out.jitter_ms = jitter_reference(percentile(sorted(samples), 50), len(samples))
    except BaseException:
        drop_store(store)
        raise

    if end_to_end:
        other = open_store("e2e")
        try:
            gc.collect()
            with ui.task(f"{label}: end-to-end ingest (append + read models)", None):
                started = time.perf_counter()
                ingest_file(other, wl.path)
                out.end_to_end_s = time.perf_counter() - started
        except BaseException:
            drop_store(store)
            raise
        finally:
            drop_store(other)
    return out, store


# ------------------------------------------------------------------------------------------------
# References: the floor (raw executemany) and the peer (eventsourcing 9.x on SQLite)
# ------------------------------------------------------------------------------------------------

FLOOR_DDL = (
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
        schema_version INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX events_stream_version ON events (stream_id, version)",
)


def floor_executemany(source_db: Path, target_db: Path, *, upto: int, chunk: int = 100_000) -> tuple[int, float]:
    """Insert the rows ``position <= upto`` of ``source_db`` into a fresh ``target_db`` with one
    ``executemany`` per chunk, in one transaction (WAL, synchronous=NORMAL, the store's page cache).

    Only the inserts and the commit are timed, not reading the rows. Returns (rows, seconds)."""
    src = sqlite3.connect(source_db)
    dst = sqlite3.connect(target_db, isolation_level=None)
    try:
        dst.execute("PRAGMA journal_mode=WAL")
        dst.execute("PRAGMA synchronous=NORMAL")
        dst.execute("PRAGMA cache_size=-65536")
        for statement in FLOOR_DDL:
            dst.execute(statement)
        insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        cur = src.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE position <= ? ORDER BY position",
                          (upto,))
        rows_total = 0
        gc.collect()
        started = time.perf_counter()
        dst.execute("BEGIN")
        elapsed = time.perf_counter() - started
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                break
            started = time.perf_counter()
            dst.executemany(insert, rows)
            elapsed += time.perf_counter() - started
            rows_total += len(rows)
        started = time.perf_counter()
        dst.execute("COMMIT")
        elapsed += time.perf_counter() - started
        return rows_total, elapsed
    finally:
        src.close()
        dst.close()


def floor_single(source_db: Path, target_db: Path, *, first: int, count: int) -> tuple[int, float]:
    """The SQL a single-command write issues, and nothing else: on a copy of the run's ledger, per
    event (the run's own single-command events, in order) one transaction of BEGIN IMMEDIATE, the
    head read, the idempotency lookup, the event insert, the stream-state upsert, the idempotency
    insert, the head update and COMMIT, with every value computed beforehand. What our Python adds
    on top of this is the cost of deciding, hashing and encoding. Returns (events, seconds)."""
    shutil.copyfile(source_db, target_db)
    conn = sqlite3.connect(target_db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE position >= ? ORDER BY position "
                            f"LIMIT ?", (first, count)).fetchall()
        head = conn.execute("SELECT position FROM ledger_head WHERE id = 1").fetchone()[0]
        versions: dict[str, int] = {}
        prepared = []
        for i, row in enumerate(rows):
            stream = row[1] + "~floor"
            versions[stream] = versions.get(stream, 0) + 1
            prepared.append(((head + i + 1, stream, versions[stream], *row[3:]), f"floor-{i}",
                             (stream, versions[stream], '{"on_hand":1,"reserved":0}')))
        insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
        upsert = ("INSERT INTO streams (stream_id, version, state) VALUES (?, ?, ?) ON CONFLICT (stream_id) "
                  "DO UPDATE SET version = excluded.version, state = excluded.state")
        keyed = ("INSERT INTO idempotency (key, payload_hash, first_position, last_position, recorded_at) "
                 "VALUES (?, ?, ?, ?, ?)")
        gc.collect()
        started = time.perf_counter()
        for event, key, state in prepared:
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.cursor()
            cur.execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone()
            cur.execute("SELECT key, payload_hash, first_position, last_position, recorded_at FROM idempotency "
                        "WHERE key IN (?)", (key,)).fetchall()
            cur.execute(insert, event)
            cur.execute(upsert, state)
            cur.execute(keyed, (key, "0" * 32, event[0], event[0], event[8]))
            cur.execute("UPDATE ledger_head SET position = ?, hash = ? WHERE id = 1", (event[0], event[-1]))
            conn.execute("COMMIT")
            cur.close()
        return len(prepared), time.perf_counter() - started
    finally:
        conn.close()


try:  # the peer; the [bench] extra installs it
    from eventsourcing.application import Application as _EsApplication
    from eventsourcing.domain import Aggregate as _EsAggregate
    from eventsourcing.domain import event as _es_event
except ImportError:  # pragma: no cover - depends on the environment
    _EsApplication = None  # type: ignore[assignment,misc]

if _EsApplication is not None:

    class PeerStream(_EsAggregate):  # type: ignore[misc]
        """One stockmesh stream as an eventsourcing aggregate: each event carries its type and data."""

        @_es_event("Started")
        def __init__(self, kind: str, data: dict[str, Any]) -> None:
            self.last_kind = kind
            self.events = 1

        @_es_event("Recorded")
        def record(self, kind: str, data: dict[str, Any]) -> None:
            self.last_kind = kind
            self.events += 1


@contextlib.contextmanager
def _es_sqlite_settings(pragmas: Sequence[str]) -> Iterator[None]:
    """Apply ``pragmas`` to every SQLite connection eventsourcing opens inside the block."""
    from eventsourcing.sqlite import SQLiteConnectionPool

    original = SQLiteConnectionPool._create_connection

    def create(self: Any) -> Any:
        conn = original(self)
        for pragma in pragmas:
            conn._sqlite_conn.execute(pragma)
        return conn

    SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLiteConnectionPool._create_connection = original  # type: ignore[method-assign]


SAME_SETTINGS = ("PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536")


def _es_app(db: Path) -> Any:
    return _EsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})


def _es_rows(source_db: Path, first: int, last: int, chunk: int) -> Iterator[list[tuple[str, str, Any]]]:
    """(stream_id, type, data as a dict) of positions first..last, a chunk at a time (not timed)."""
    import orjson

    src = sqlite3.connect(source_db)
    try:
        cur = src.execute("SELECT stream_id, type, data FROM events WHERE position BETWEEN ? AND ? "
                          "ORDER BY position", (first, last))
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            yield [(sid, kind, orjson.loads(data)) for sid, kind, data in rows]
    finally:
        src.close()


@dataclass(slots=True)
class PeerRun:
    batched_events: int = 0
    batched_s: float = 0.0
    single_events: int = 0
    single_s: float = 0.0
    single_default_events: int = 0
    single_default_s: float = 0.0


def peer_eventsourcing(source_db: Path, work: Path, *, batch_last: int, single_first: int, single_count: int,
                       batch_size: int, default_count: int, ui: Ui) -> PeerRun:
    """Append the events of ``source_db`` with eventsourcing: positions 1..``batch_last`` batched
    (``batch_size`` events per ``save``, all aggregates they touch saved together), then
    ``single_count`` from ``single_first`` one ``save`` per event, with the same SQLite settings as
    stockmesh (WAL, synchronous=NORMAL, 64 MiB cache); then ``default_count`` one at a time with
    the library's default settings (synchronous=FULL: a sync per commit), for information."""
    out = PeerRun()
    with _es_sqlite_settings(SAME_SETTINGS):
        app = _es_app(work / "peer.db")
        try:
            aggregates: dict[str, Any] = {}
            with ui.task("eventsourcing: batched append", batch_last) as advance:
                for rows in _es_rows(source_db, 1, batch_last, batch_size):
                    started = time.perf_counter()
                    touched: dict[str, Any] = {}
                    for sid, kind, data in rows:
                        agg = aggregates.get(sid)
                        if agg is None:
                            agg = aggregates[sid] = PeerStream(kind, data)
                        else:
                            agg.record(kind, data)
                        touched[sid] = agg
                    app.save(*touched.values())
                    out.batched_s += time.perf_counter() - started
                    out.batched_events += len(rows)
                    advance(len(rows))
            singles = [row for rows in _es_rows(source_db, single_first, single_first + single_count - 1,
                                                single_count) for row in rows]
            gc.collect()
            with ui.task("eventsourcing: one save per event", len(singles)) as advance:
                started = time.perf_counter()
                for sid, kind, data in singles:
                    agg = aggregates.get(sid)
                    if agg is None:
                        agg = aggregates[sid] = PeerStream(kind, data)
                    else:
                        agg.record(kind, data)
                    app.save(agg)
                out.single_s = time.perf_counter() - started
                out.single_events = len(singles)
                advance(len(singles))
        finally:
            app.close()
    if default_count > 0:
        app = _es_app(work / "peer-default.db")
        try:
            singles = singles[:default_count]
            fresh: dict[str, Any] = {}
            gc.collect()
            with ui.task("eventsourcing (default settings): one save per event", len(singles)) as advance:
                started = time.perf_counter()
                for sid, kind, data in singles:
                    agg = fresh.get(sid)
                    if agg is None:
                        agg = fresh[sid] = PeerStream(kind, data)
                    else:
                        agg.record(kind, data)
                    app.save(agg)
                out.single_default_s = time.perf_counter() - started
                out.single_default_events = len(singles)
                advance(len(singles))
        finally:
            app.close()
    return out


# ------------------------------------------------------------------------------------------------
# The large replay: build an M-event ledger in chunks, replay it in a fresh subprocess
# ------------------------------------------------------------------------------------------------

# Runs in the child: only the store and the runner are imported, so the RSS is the replay's own.
# Linux keeps ru_maxrss across fork and exec, so a child of a big process would report at least the
# parent's size: the parent spawns this child before it has run any phase (see ``run``), and the
# child also reports VmHWM (the peak RSS of its own address space, which exec does reset).
_REPLAY_CHILD = """
import json, resource, sys, time
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.projections.runner import replay
def hwm_kib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
baseline_hwm = hwm_kib()
store = SqliteEventStore(sys.argv[1])
def progress(n):
    print("P", n, flush=True)
from stockmesh.projections.parallel import default_workers
workers = default_workers(store)
started = time.perf_counter()
stats = {}
events = replay(store, progress=progress, workers=workers, stats=stats)
seconds = time.perf_counter() - started
store.close()
print("R", json.dumps({"events": events, "seconds": seconds, "workers": workers,
                       "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       "worker_peak_rss_kib": stats.get("worker_peak_rss_kib", []),
                       "rss_after_imports_kib": baseline, "vm_hwm_kib": hwm_kib(),
                       "vm_hwm_after_imports_kib": baseline_hwm}), flush=True)
"""

_BUILD_CHILD = """
import json, sys
from pathlib import Path
from stockmesh.bench.ledger import build_large_ledger
db, target, skus, sites, seed, chunk_lines = sys.argv[1:7]
def progress(n):
    print("P", n, flush=True)
out = build_large_ledger(Path(db), int(target), skus=int(skus), sites=int(sites), seed=int(seed),
                         chunk_lines=int(chunk_lines), progress=progress)
print("R", json.dumps(out), flush=True)
"""


def _run_child(code: str, args: Sequence[str], total: int, description: str, ui: Ui) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints ``P <n>`` progress lines and ``R <json>``."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    result: dict[str, Any] | None = None
    with ui.task(description, total) as advance, tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=errors,
                                text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("P "):
                advance(int(line.split()[1]))
            elif line.startswith("R "):
                result = json.loads(line[2:])
        if proc.wait() != 0 or result is None:
            errors.seek(0)
            raise RuntimeError(f"{description}: the subprocess failed ({proc.returncode}): {errors.read()[-3000:]}")
    return result


def build_large_ledger(db: Path, target_events: int, *, skus: int, sites: int, seed: int, chunk_lines: int,
                       progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Build a SQLite ledger of ~``target_events`` events: generate ``chunk_lines`` commands at a
    time and ingest each chunk (``update_views=False``), one transaction per chunk."""
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.service.ingest import ingest_file

    chunk = db.with_name(db.name + ".chunk.jsonl")
    gen = CommandGenerator(skus, sites, seed=seed, prefix="m")
    store = SqliteEventStore(str(db))
    store.init()
    events = commands = chunks = 0
    generate_s = ingest_s = 0.0
    try:
        while events < target_events:
            started = time.perf_counter()
            n_commands, n_events = gen.write(chunk, target_events - events, max_lines=chunk_lines)
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            report = ingest_file(store, chunk, update_views=False)
            ingest_s += time.perf_counter() - started
            if report.events != n_events or report.rejected:
                raise RuntimeError(f"chunk {chunks + 1} did not apply as generated")
            events += n_events
            commands += n_commands
            chunks += 1
            if progress:
                progress(n_events)
            del report
            gc.collect()
    finally:
        store.close()
        chunk.unlink(missing_ok=True)
    return {"events": events, "commands": commands, "chunks": chunks, "chunk_lines": chunk_lines,
            "generate_seconds": generate_s, "build_ingest_seconds": ingest_s,
            "build_append_events_per_s": events / ingest_s if ingest_s else None,
            "build_process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def large_replay(cfg: BenchConfig, work: Path, ui: Ui) -> dict[str, Any]:
    """Build a ledger of ``cfg.replay_events`` events in chunks of ``cfg.chunk_lines`` commands (in a
    subprocess, so this process stays small), then replay it in a fresh subprocess that reports
    its own peak RSS."""
    db = work / "large.db"
    built = _run_child(_BUILD_CHILD, [str(db), str(cfg.replay_events), str(cfg.skus), str(cfg.sites),
                                      str(cfg.seed + 1), str(cfg.chunk_lines)], cfg.replay_events,
                       f"building a {cfg.replay_events:,}-event ledger in chunks of {cfg.chunk_lines:,} commands",
                       ui)
    parent_rss = _current_rss_mib()
    result = _run_child(_REPLAY_CHILD, [str(db)], built["events"],
                        f"replay of {built['events']:,} events in a fresh process", ui)
    size = sum(p.stat().st_size for p in work.glob("large.db*"))
    kib = 1024
    return {
        **built,
        "db_bytes": size,
        "replay_seconds": result["seconds"],
        "replay_events_per_s": result["events"] / result["seconds"],
        "replayed_events": result["events"],
        "workers": result.get("workers", 1),
        "replay_process_peak_rss_mib": result["peak_rss_kib"] / kib,
        "worker_peak_rss_mib": [k / kib for k in result.get("worker_peak_rss_kib", [])],
        # what the whole replay holds at most: the replay process plus every worker at its own peak
        # (an upper bound: their peaks need not coincide)
        "peak_rss_mib": (result["peak_rss_kib"] + sum(result.get("worker_peak_rss_kib", []))) / kib,
        "rss_after_imports_mib": result["rss_after_imports_kib"] / kib,
        "vm_hwm_mib": result["vm_hwm_kib"] / kib if result.get("vm_hwm_kib") else None,
        "vm_hwm_after_imports_mib": (result["vm_hwm_after_imports_kib"] / kib
                                     if result.get("vm_hwm_after_imports_kib") else None),
        "parent_rss_at_spawn_mib": parent_rss,
    }


def _current_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------

def pg_unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the [pg] extra)"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {url}: {str(exc).strip()[:200]}"
    return None


def _pg_server_version(url: str) -> str | None:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None


def _drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ------------------------------------------------------------------------------------------------
# The whole benchmark
# ------------------------------------------------------------------------------------------------

METHOD_NOTES = [
    "Every run starts from fresh database files (SQLite in a temp dir; PostgreSQL in a new schema, dropped after).",
    "batched append: ingest_file(update_views=False) of the generated JSON-lines file, one transaction; "
    "reading and validating the file is included; from 2 MB on (and with a second core) helper processes "
    "compute the idempotency fingerprints (service/fingerprints.py) and seal and insert the events as they "
    "are decided (ledger/writer.py), in the same transaction.",
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
    """The run as the equivalent ``stockmesh bench ledger ...`` command line."""
    args = list(argv if argv is not None else sys.argv)
    if "ledger" in args:
        return shlex.join(["stockmesh", "bench", *args[args.index("ledger"):]])
    return shlex.join(args)


def _collect(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    keys = list(dict.fromkeys(k for r in runs for k in r))
    return {k: summary([r[k] for r in runs if r.get(k) is not None]) for k in keys}


def run(cfg: BenchConfig, ui: Ui | None = None, *, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the whole ledger benchmark and return its JSON-ready result (see the module docstring)."""
    ui = ui or Ui(enabled=False)
    started_at = datetime.now(UTC)
    wall = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "stockmesh bench ledger",
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
    sqlite_out = _collect(ours)
    floor_out = _collect(floors) if floors else {"skipped": "disabled"}
    peer_out: dict[str, Any] = _collect(peers) if peers else {"skipped": peer_skip}
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
    out = _collect(runs)
    out["events"] = wl.events
    out["server_version"] = _pg_server_version(url)
    out["url"] = url
    return out


# ------------------------------------------------------------------------------------------------
# Targets and the report
# ------------------------------------------------------------------------------------------------

def _median_of(section: dict[str, Any] | None, key: str) -> float | None:
    if not section or key not in section:
        return None
    value = section[key].get("median")
    return float(value) if value is not None else None


def _ratio_runs(ours: dict[str, Any] | None, ours_key: str, ref: dict[str, Any] | None, ref_key: str
                ) -> list[float]:
    """Per-run ratios ours / reference (both measured in the same run)."""
    if not ours or not ref or ours_key not in ours or ref_key not in ref:
        return []
    a, b = ours[ours_key]["runs"], ref[ref_key]["runs"]
    return [x / y for x, y in zip(a, b, strict=False) if y]


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value (median of the runs), PASS or MISS."""
    sqlite_ = result.get("sqlite")
    peer = result.get("eventsourcing")
    floor = result.get("floor")
    large = result.get("large_replay") or {}
    rows: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, op: str, target: float, unit: str, note: str = "") -> None:
        if measured is None:
            rows.append({"name": name, "measured": None, "op": op, "target": target, "unit": unit,
                         "result": "NOT RUN", "pass": None, "note": note})
            return
        ok = {">=": measured >= target, "<=": measured <= target, "<": measured < target}[op]
        rows.append({"name": name, "measured": measured, "op": op, "target": target, "unit": unit,
                     "result": "PASS" if ok else "MISS", "pass": ok,
                     "fraction_of_target": (measured / target) if op == ">=" else (target / measured if measured
                                                                                   else None),
                     "note": note})

    add("batched append, SQLite", _median_of(sqlite_, "batched_append_events_per_s"), ">=", TARGET_BATCHED_EPS,
        "events/s")
    batched_ratio = _ratio_runs(sqlite_, "batched_append_events_per_s", peer, "batched_events_per_s")
    add("batched append vs eventsourcing batched", statistics.median(batched_ratio) if batched_ratio else None,
        ">=", TARGET_VS_PEER_BATCHED, "x", "median of per-run ratios")
    single_ratio = _ratio_runs(sqlite_, "single_command_events_per_s", peer, "single_events_per_s")
    add("single commands vs eventsourcing one at a time", statistics.median(single_ratio) if single_ratio else None,
        ">=", TARGET_VS_PEER_SINGLE, "x", "median of per-run ratios; same SQLite settings for both")
    add("ReserveStock p99, embedded SQLite", _median_of(sqlite_, "reserve_p99_ms"), "<=", TARGET_RESERVE_P99_MS,
        "ms")
    add("replay rate, SQLite", _median_of(sqlite_, "replay_events_per_s"), ">=", TARGET_REPLAY_EPS, "events/s")
    rss = large.get("peak_rss_mib")
    add(f"peak RSS of a {large.get('events', 0):,}-event replay (process + workers)", float(rss) if rss is not None else None, "<",
        TARGET_REPLAY_RSS_MIB, "MiB")
    floor_ratio = _ratio_runs(sqlite_, "batched_append_events_per_s", floor, "rows_per_s")
    if floor_ratio:
        rows.append({"name": "batched append / raw executemany floor (information)",
                     "measured": statistics.median(floor_ratio), "op": "", "target": None, "unit": "x",
                     "result": "INFO", "pass": None, "note": "median of per-run ratios"})
    single_floor = _ratio_runs(floor, "single_events_per_s", peer, "single_events_per_s")
    if single_floor:
        rows.append({"name": "single-command SQL floor vs eventsourcing one at a time (information)",
                     "measured": statistics.median(single_floor), "op": "", "target": None, "unit": "x",
                     "result": "INFO", "pass": None,
                     "note": "the most any single-command write with our statements could reach"})
    return rows


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("ms",):
        return f"{value:.3f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def render(result: dict[str, Any], console: Any = None) -> None:
    """Print the measurements and the targets as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=132)
    m = result["machine"]
    console.print(f"[bold]stockmesh bench ledger[/bold]  {result['date']}  nproc={m['nproc']}  "
                  f"CPU={m['cpu_model']}  Python {m['python']}  SQLite {m['sqlite']}  "
                  f"load {m['load_average_at_start'][0]:.2f} -> {m.get('load_average_at_end', [0])[0]:.2f}")
    console.print(f"command: {result['command']}")
    w = result.get("workload", {})
    runs = result["config"]["runs"]
    console.print(f"workload: {w.get('events', 0):,} events from {w.get('commands', 0):,} commands over "
                  f"{w.get('skus')} SKUs x {w.get('sites')} sites; medians of {runs} run(s)")

    table = Table(title="Measurements (median, min - max of the runs)")
    table.add_column("what")
    table.add_column("median", justify="right")
    table.add_column("min - max", justify="right")
    table.add_column("unit")

    def line(label: str, section: dict[str, Any] | None, key: str, unit: str) -> None:
        if not section or key not in section or section[key].get("median") is None:
            return
        s = section[key]
        table.add_row(label, _fmt(s["median"], unit), f"{_fmt(s['min'], unit)} - {_fmt(s['max'], unit)}", unit)

    sq, pg = result.get("sqlite"), result.get("postgres")
    line("SQLite: batched append (ingest, no read models)", sq, "batched_append_events_per_s", "events/s")
    line("SQLite: read-model catch-up", sq, "catch_up_events_per_s", "events/s")
    line("SQLite: end-to-end ingest (append + read models)", sq, "end_to_end_ingest_events_per_s", "events/s")
    line("SQLite: single-command append (own transaction)", sq, "single_command_events_per_s", "events/s")
    line("SQLite: ReserveStock p50", sq, "reserve_p50_ms", "ms")
    line("SQLite: ReserveStock p99", sq, "reserve_p99_ms", "ms")
    line("  jitter reference (CPU-only loop of the p50's length) p99", sq, "jitter_reference_p99_ms", "ms")
    line("SQLite: replay", sq, "replay_events_per_s", "events/s")
    line("floor: raw executemany of the same rows", result.get("floor"), "rows_per_s", "rows/s")
    line("floor: a single-command write's SQL alone, one transaction each", result.get("floor"),
         "single_events_per_s", "events/s")
    peer = result.get("eventsourcing")
    line("eventsourcing: batched saves", peer, "batched_events_per_s", "events/s")
    line("eventsourcing: one save per event", peer, "single_events_per_s", "events/s")
    line("eventsourcing: one save per event, default settings", peer, "single_default_settings_events_per_s",
         "events/s")
    if pg and "skipped" not in pg:
        n = pg.get("events", 0)
        line(f"PostgreSQL: batched append ({n:,} events)", pg, "batched_append_events_per_s", "events/s")
        line("PostgreSQL: read-model catch-up", pg, "catch_up_events_per_s", "events/s")
        line("PostgreSQL: end-to-end ingest", pg, "end_to_end_ingest_events_per_s", "events/s")
        line("PostgreSQL: single-command append", pg, "single_command_events_per_s", "events/s")
        line("PostgreSQL: ReserveStock p50", pg, "reserve_p50_ms", "ms")
        line("PostgreSQL: ReserveStock p99", pg, "reserve_p99_ms", "ms")
        line("PostgreSQL: replay", pg, "replay_events_per_s", "events/s")
    large = result.get("large_replay") or {}
    if "events" in large:
        table.add_row(f"large ledger: build ({large['events']:,} events, {large['chunks']} chunks)",
                      _fmt(large["build_append_events_per_s"]), "1 run", "events/s")
        table.add_row("large ledger: replay in a fresh process", _fmt(large["replay_events_per_s"]), "1 run",
                      "events/s")
        table.add_row(f"large ledger: replay peak RSS, process + {large.get('workers', 1)} worker(s) (ru_maxrss)",
                      _fmt(large["peak_rss_mib"]), "1 run", "MiB")
        if large.get("vm_hwm_mib"):
            table.add_row("large ledger: replay peak RSS (VmHWM)", _fmt(large["vm_hwm_mib"]), "1 run", "MiB")
    console.print(table)
    if pg and "skipped" in pg:
        console.print(f"PostgreSQL: skipped ({pg['skipped']})")

    targets = Table(title="Targets")
    targets.add_column("target")
    targets.add_column("measured", justify="right")
    targets.add_column("goal", justify="right")
    targets.add_column("result")
    for t in result["targets"]:
        goal = f"{t['op']} {_fmt(t['target'], t['unit'])}" if t["target"] is not None else ""
        colour = {"PASS": "green", "MISS": "red"}.get(t["result"], "dim")
        measured = _fmt(t["measured"], t["unit"])
        if t["unit"] not in ("x",) and t["measured"] is not None:
            measured += f" {t['unit']}"
        targets.add_row(t["name"], measured, goal, f"[{colour}]{t['result']}[/{colour}]")
    console.print(targets)
