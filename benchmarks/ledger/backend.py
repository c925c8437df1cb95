"""stockmesh on one backend: one run of every phase (append, catch-up, replay, single commands,
ReserveStock latency, end-to-end ingest) on fresh stores."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.ledger.stats import percentile
from benchmarks.ledger.ui import Ui
from benchmarks.ledger.workload import Workload


def _parse(lines: Sequence[str]) -> list[tuple[Any, dict[str, Any]]]:
    import orjson

    from stockmesh.domain.commands import parse_command

    out = []
    for line in lines:
        obj = orjson.loads(line)
        out.append((parse_command(obj), obj))
    return out



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
    from stockmesh.bootstrap import open_spec
    from stockmesh.projections.rebuild import replay
    from stockmesh.projections.runner import catch_up
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
            replayed = replay(store, progress=advance, open_spec=open_spec)
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
