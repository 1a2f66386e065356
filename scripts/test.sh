#!/usr/bin/env bash
# Install the dev extras and run everything CI runs: lint, format check, the whole
# test suite (slow end-to-end, S3 and crash tests included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh dev
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
ruff check .
ruff format --check .
pytest "$@"
