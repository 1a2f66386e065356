#!/usr/bin/env bash
# The main job on a fresh clone: install, reproduce the pipeline, push to the
# default local remote, verify every checksum, list the experiments and show
# every artifact's state.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh pipeline
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
artifactctl init
dvc repro
artifactctl push
artifactctl verify
artifactctl list
artifactctl status --cloud
