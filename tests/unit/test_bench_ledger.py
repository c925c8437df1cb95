"""Smoke test of the ledger benchmark harness at a tiny scale (a few seconds; never a timed test:
it checks that every phase runs and reports sane numbers, not how fast they are)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.ledger import config, peer, run, stats, workload
from benchmarks.ledger.__main__ import app

RATES = ("batched_append_events_per_s", "catch_up_events_per_s", "replay_events_per_s",
         "single_command_events_per_s", "end_to_end_ingest_events_per_s")


def _sane(stat: dict[str, float]) -> None:
    assert set(stat) >= {"median", "min", "max", "runs"}
    assert stat["min"] <= stat["median"] <= stat["max"]
    assert all(math.isfinite(v) and v > 0 for v in stat["runs"])


def test_generated_workload_is_valid_and_counts_its_events(tmp_path: Path) -> None:
    from stockmesh.ledger.sqlite import SqliteEventStore
    from stockmesh.service.ingest import ingest_file

    cfg = config.BenchConfig(skus=30, sites=4, single=20, reserve=20)
    wl = workload.build_workload(tmp_path / "w.jsonl", cfg, 2_000, seed=3)
    store = SqliteEventStore(str(tmp_path / "w.db"))
    store.init()
    try:
        report = ingest_file(store, wl.path)  # all or nothing: every generated command is valid
        assert report.events == wl.events >= 2_000
        assert wl.mix["ReserveStock"] > 0 and wl.mix["DispatchTransfer"] > 0 and wl.mix["ReceiveTransfer"] > 0
    finally:
        store.close()


def test_percentile_and_summary() -> None:
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert stats.percentile(sorted(float(i) for i in range(1, 101)), 99) == pytest.approx(99.01)
    assert stats.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": [3.0, 1.0, 2.0]}


@pytest.mark.slow
def test_tiny_run_reports_every_figure(tmp_path: Path) -> None:
    cfg = config.BenchConfig(events=3_000, replay_events=4_000, chunk_lines=1_500, runs=1, pg_url=None, single=40,
                            reserve=40, peer_single=40, peer_batch=1_000, skus=40, sites=5,
                            tmp_dir=str(tmp_path))
    result = run.run(cfg, argv=["benchmarks/ledger/__main__.py", "--events", "3000"])
    json.dumps(result)  # JSON-ready
    assert result["command"] == "python -m benchmarks.ledger --events 3000"
    assert {"nproc", "cpu_model", "python", "sqlite"} <= set(result["machine"])
    assert result["workload"]["events"] >= 3_000
    for key in RATES:
        _sane(result["sqlite"][key])
    p50, p99 = result["sqlite"]["reserve_p50_ms"]["median"], result["sqlite"]["reserve_p99_ms"]["median"]
    assert 0 < p50 <= p99
    _sane(result["floor"]["rows_per_s"])
    if peer._EsApplication is not None:
        _sane(result["eventsourcing"]["batched_events_per_s"])
        _sane(result["eventsourcing"]["single_events_per_s"])
    else:
        assert "skipped" in result["eventsourcing"]
    assert result["postgres"] == {"skipped": "--no-pg"}
    large = result["large_replay"]
    assert large["replayed_events"] == large["events"] >= 4_000 and large["chunks"] >= 2
    assert 10 < large["peak_rss_mib"] < 4_096
    names = [t["name"] for t in result["targets"]]
    assert len(names) >= 6
    assert all(t["result"] in {"PASS", "MISS", "INFO", "NOT RUN"} for t in result["targets"])
    assert not list(tmp_path.iterdir())  # scratch databases removed


def test_cli_help_lists_the_options() -> None:
    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0
    for option in ("--events", "--replay-events", "--runs", "--pg", "--no-pg", "--json-out"):
        assert option in out.output
