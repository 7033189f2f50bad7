#!/usr/bin/env bash
# Set up gigatrain on a fresh Debian/Ubuntu machine: a virtual environment in .venv with the
# package, its web/plot/test extras and the CPU build of PyTorch (for `calibrate`/`measure`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# the CPU build of PyTorch; `pip install torch` alone would pull a multi-GB CUDA build
python -m pip install -q "torch==2.13.0" || echo "warning: torch 2.13.0 not installed; calibrate/measure need gigatrain[torch]"
python -m pip install -q -e ".[dev]"
# framework config parsers for the export tests (torch pinned so pip keeps the CPU build)
python -m pip install -q -e ".[exports]" "torch==2.13.0" || echo "warning: export parsers not installed; tests/test_exports.py skips those checks"
python -m pip install -q -e ".[sweep]"   # Ray (CPU-only core wheel), DuckDB, pyarrow: `gigatrain sweep`
echo "gigatrain installed in .venv ($(.venv/bin/gigatrain --help >/dev/null && echo ok))"
