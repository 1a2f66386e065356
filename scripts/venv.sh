#!/usr/bin/env bash
# Create .venv (if needed) and install artifactctl with the given extras into it.
# Usage: scripts/venv.sh pipeline|dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-pipeline}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
# Byte-compile the (editable) package once: where PYTHONDONTWRITEBYTECODE is set, every
# `artifactctl` start would otherwise compile its modules again.
.venv/bin/python -m compileall -q artifactctl >/dev/null
