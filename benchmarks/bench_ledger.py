"""Ledger benchmark (issue 2): the same as ``stockmesh bench ledger``; results in BENCHMARKS.md.

    nice -n 5 .venv/bin/python benchmarks/bench_ledger.py --json-out ledger.json     # full scale
    .venv/bin/python benchmarks/bench_ledger.py --events 200000 --replay-events 1000000 --runs 1

Every option of ``stockmesh bench ledger --help`` applies. The harness is
``stockmesh.bench.ledger``.
"""

from __future__ import annotations

import sys

from stockmesh.entrypoints.cli_bench import app

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "ledger", *sys.argv[1:]]
    app(prog_name="bench_ledger.py")
