"""kill -9 the writer at random moments of a batch ingest, 20 times: the SQLite file stays sound, a
batch is either wholly in or wholly out, and the read models rebuild to the same state."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app
from stockmesh.service.bulk.fingerprints import THRESHOLD_ENV

BATCH = 6000


def batch_file(path: Path, round_no: int) -> Path:
    lines = []
    for i in range(BATCH):
        lines.append(json.dumps({"command": "ReceiveStock", "idempotency_key": f"r{round_no}-{i}",
                                 "sku": f"SKU-{i % 50:03d}", "site": f"STORE-{i % 7}", "qty": 1 + i % 9}))
    path.write_text("\n".join(lines) + "\n")
    return path


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


@pytest.mark.parametrize("helpers", ["in-process", "writer-process"])
@pytest.mark.slow
def test_kill_minus_nine_during_ingest(tmp_path: Path, helpers: str) -> None:
    """``writer-process``: the ingest hands its SQL to a writer process and its fingerprints to a
    worker (``ledger.bulk.writer``, ``service.bulk.fingerprints``), as a big file's ingest does; the kill
    then lands on the parent while its writer may be mid-transaction."""
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    setup = [{"command": "RegisterSku", "idempotency_key": f"sku-{i}", "sku": f"SKU-{i:03d}"} for i in range(50)]
    setup += [{"command": "RegisterSite", "idempotency_key": f"site-{i}", "site": f"STORE-{i}"} for i in range(7)]
    (tmp_path / "setup.jsonl").write_text("\n".join(json.dumps(x) for x in setup))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(tmp_path / "setup.jsonl"), "--db", url]).exit_code == 0
    rng = random.Random(9)
    exe = [sys.executable, "-m", "stockmesh.entrypoints.cli"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", THRESHOLD_ENV: "0" if helpers == "writer-process" else "-1"}
    # Calibrate: how long does one batch take on this machine, from process start to exit? The
    # kills are then spread over that span, so most land mid-batch however fast the machine is.
    started = time.perf_counter()
    subprocess.run([*exe, "ingest", str(batch_file(tmp_path / "calibrate.jsonl", 99)), "--db", url], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    span = time.perf_counter() - started
    killed = committed = 0
    for round_no in range(20):
        before = count(db)
        path = batch_file(tmp_path / f"batch-{round_no}.jsonl", round_no)
        proc = subprocess.Popen([*exe, "ingest", str(path), "--db", url], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.05, 0.95) * span)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = count(db)
        assert after in (before, before + BATCH), f"partial batch: {after - before} events of {BATCH}"
        committed += after == before + BATCH
        assert runner.invoke(app, ["audit", "verify", "--db", url]).exit_code == 0
        verify = runner.invoke(app, ["replay", "--verify", "--db", url])
        assert verify.exit_code == 0, verify.output
    assert killed >= 5, "the writer should have been killed mid-batch most of the time"
