"""Names of the managed tree, of run manifests and of the run environment; name/ID validation.

Routing pipeline writes by mode is ``artifactctl.runs.context``.
"""

from __future__ import annotations

import time

from artifactctl.config import MODES, Mode
from artifactctl.errors import UsageError
from artifactctl.safepath import MAX_NAME, validate_name  # noqa: F401  (the rules live there)

# The managed tree, relative to the artifacts root.
DATA = "data"
REFERENCE = "reference"
MODELS = "models"
PRODUCTION = "models/production"
EXPERIMENTS = "experiments"
PROMOTION_TESTS = "experiments/promotion_tests"
TESTS = "tests"
ARCHIVE = "archive"
PHASES = ("baseline", "candidates")

# Test runs: artifacts/tests/<name>/ holds a mirror of the production layout plus
# RUN_MANIFEST (run.json): {"schema": RUN_SCHEMA, "name", "mode": "test",
# "created": ISO-8601 UTC, "git_commit", "command", "params",
# "files": {relpath inside the run folder: {"sha256", "size"}}}.
RUN_MANIFEST = "run.json"
RUN_SCHEMA = "artifactctl.run/1"
KEEP_MARKER = ".keep"  # `artifactctl keep NAME` puts this file in the run folder
# Saved runs (save_run): <routed base>/runs/<run_id>/ with SAVED_RUN_MANIFEST
# (manifest.json): {"schema": SAVED_RUN_SCHEMA, "run_id", "files": {name: {"sha256", "size"}}}.
RUNS = "runs"
SAVED_RUN_MANIFEST = "manifest.json"
SAVED_RUN_SCHEMA = "artifactctl.saved_run/1"
# Forced production replacements, one JSON object a line (git-tracked), relative to the
# artifacts root: {"when", "who", "command", "stage", "experiment", "path", "md5_before",
# "md5_after", "sha256_before", "sha256_after"}.
OVERWRITE_LOG = "models/production/overwrites.jsonl"
# Environment that `artifactctl run` sets for the stages of a test run.
ENV_MODE = "ARTIFACTCTL_MODE"
ENV_TEST_NAME = "ARTIFACTCTL_TEST_NAME"
ENV_OVERRIDES = "ARTIFACTCTL_OVERRIDES"  # JSON {"dotted.key": value}: -S for this run only
ENV_FORCE = "ARTIFACTCTL_FORCE"  # "1": production writes may replace registered artifacts


def validate_mode(mode: str) -> Mode:
    """``mode`` as a Mode; UsageError (exit 2) naming the modes for anything else."""
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return Mode(mode)


def new_test_name() -> str:
    """``test_YYYYmmdd_HHMMSS_<6 hex>`` (UTC)."""
    import secrets

    return time.strftime("test_%Y%m%d_%H%M%S", time.gmtime()) + "_" + secrets.token_hex(3)


def new_run_id() -> str:
    """``YYYYmmdd_HHMMSS_<8 hex>`` (UTC)."""
    import secrets

    return time.strftime("%Y%m%d_%H%M%S", time.gmtime()) + "_" + secrets.token_hex(4)
