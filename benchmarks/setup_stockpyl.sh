#!/usr/bin/env bash
# Creates benchmarks/.venv-stockpyl, a separate virtualenv holding stockpyl (the reference library
# we compare the exact solvers against). stockpyl's serial solver needs numpy < 2, which clashes with
# the project's own environment, so it lives apart and is never a dependency of stockmesh.
# Usage: bash benchmarks/setup_stockpyl.sh   (idempotent; PYTHON=python3.11 to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV=.venv-stockpyl
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
"$VENV/bin/python" -m pip install -q "numpy<2" "scipy<1.14" "stockpyl==1.0.2"
"$VENV/bin/python" -c "import stockpyl, numpy; print('stockpyl ready, numpy', numpy.__version__)"
