"""The ledger's targets, each with the measured value, and the Rich tables of a result."""

from __future__ import annotations

import statistics
from typing import Any

# The ledger's targets (medians of the runs).
TARGET_BATCHED_EPS = 100_000.0
TARGET_VS_PEER_BATCHED = 2.5
TARGET_VS_PEER_SINGLE = 3.0
TARGET_RESERVE_P99_MS = 2.0
TARGET_REPLAY_EPS = 300_000.0
TARGET_REPLAY_RSS_MIB = 1024.0


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
    console.print(f"[bold]python -m benchmarks.ledger[/bold]  {result['date']}  nproc={m['nproc']}  "
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
