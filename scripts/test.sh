#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, format and type checks, then pytest (unit, property, validation, CLI,
# calibration on the CPU, web API fuzzing and the headless-Chromium end-to-end test).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium/chromedriver missing and cannot be installed: the browser test will be skipped"
  fi
fi
bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests benchmarks
ruff format --check src tests benchmarks
mypy   # files and strictness in pyproject.toml [tool.mypy]: strict on model/, specs, knobs
python -m pytest -p no:cacheprovider
