"""The machine a run measured on: CPU, memory, versions, load, and the code that was measured."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import stockmesh

# The package measured (another checkout's with PYTHONPATH=OTHER/src), not this harness's.
PACKAGE_DIR = Path(stockmesh.__file__).resolve().parent


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
                             cwd=PACKAGE_DIR)
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
        "code_path": str(PACKAGE_DIR.parent),
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
