#!/usr/bin/env bash
# Set up, then run every check CI runs: ruff, mypy, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest -q "$@"
