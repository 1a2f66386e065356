#!/usr/bin/env bash
# Install the dev extras and run everything CI runs: lint, format check, the whole
# test suite (slow end-to-end, S3 and crash tests included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh dev
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
# The dashboard tests drive Debian's chromium (never a browser downloaded by playwright).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      echo "scripts/test.sh: could not install chromium; the dashboard tests will fail" >&2
  else
    echo "scripts/test.sh: /usr/bin/chromium is missing (apt-get install chromium);" \
      "the dashboard tests will fail" >&2
  fi
fi
ruff check .
ruff format --check .
pytest "$@"
