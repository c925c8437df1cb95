"""The large replay: build an M-event ledger in chunks, replay it in a fresh subprocess.

Both steps run as child programs of their own (``build_child.py``, ``replay_child.py``, run by
path) that print ``P <n>`` progress lines and one ``R <json>`` result. Linux keeps ru_maxrss across
fork and exec, so a child of a big process would report at least the parent's size: the parent
spawns them before it has run any phase (see ``run.run``), and the replay child also reports VmHWM
(the peak RSS of its own address space, which exec does reset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.ledger.config import BenchConfig
from benchmarks.ledger.machine import PACKAGE_DIR
from benchmarks.ledger.ui import Ui

HERE = Path(__file__).resolve().parent


def _run_child(program: str, args: Sequence[str], total: int, description: str, ui: Ui) -> dict[str, Any]:
    """Run the child ``program`` (a file beside this one) in a fresh interpreter; it prints
    ``P <n>`` progress lines and ``R <json>``."""
    env = dict(os.environ)
    src = str(PACKAGE_DIR.parent)  # the children measure the stockmesh this process imported
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    result: dict[str, Any] | None = None
    with ui.task(description, total) as advance, tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen([sys.executable, str(HERE / program), *args], stdout=subprocess.PIPE, stderr=errors,
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


def large_replay(cfg: BenchConfig, work: Path, ui: Ui) -> dict[str, Any]:
    """Build a ledger of ``cfg.replay_events`` events in chunks of ``cfg.chunk_lines`` commands (in a
    subprocess, so this process stays small), then replay it in a fresh subprocess that reports
    its own peak RSS."""
    db = work / "large.db"
    built = _run_child("build_child.py", [str(db), str(cfg.replay_events), str(cfg.skus), str(cfg.sites),
                                      str(cfg.seed + 1), str(cfg.chunk_lines)], cfg.replay_events,
                       f"building a {cfg.replay_events:,}-event ledger in chunks of {cfg.chunk_lines:,} commands",
                       ui)
    parent_rss = _current_rss_mib()
    result = _run_child("replay_child.py", [str(db)], built["events"],
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
