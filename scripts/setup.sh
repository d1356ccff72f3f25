#!/usr/bin/env bash
# Create .venv and install Lightsout with its development tools, from the project's own files.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Byte-compile the package as pip does when it installs a wheel. An editable install leaves it to
# the first import, which writes nothing where PYTHONDONTWRITEBYTECODE is set: every fresh process
# (each MRT worker, each CLI run) then compiled Lightsout's modules again (~40 ms of `import
# lightsout.sources.mrt` alone). Python ignores a cache older than its source, so edits stay safe.
.venv/bin/python -m compileall -q src/lightsout >/dev/null
