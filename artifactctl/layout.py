"""Where things go: the managed tree, mode routing, and name/ID validation.

Pipeline code asks the context for paths instead of hard-coding them, so the
same stage writes the canonical tree in production mode and a disposable copy
under ``artifacts/tests/<name>/`` in test mode.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from artifactctl.config import MODES
from artifactctl.errors import UsageError
from artifactctl.project import Project, find_repo

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

MAX_NAME = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

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
# pull --prefer-remote keeps the local copy as PATH + BACKUP_SUFFIX.format(stamp)
BACKUP_SUFFIX = ".local-{stamp}"  # stamp: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def validate_name(name: str, what: str = "name") -> str:
    """A test name, run ID or experiment ID that is safe as one path component.

    Rejects (exit 2): empty, absolute, '.', '..' or containing '..', a path
    separator, NUL or other control characters, leading/trailing whitespace,
    or more than 100 characters.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"{what} must not be empty")
    if len(name) > MAX_NAME:
        raise UsageError(f"{what} is {len(name)} characters long; at most {MAX_NAME} allowed")
    if _CONTROL.search(name):
        raise UsageError(f"{what} {name!r} contains a control character")
    if "/" in name or "\\" in name or os.sep in name:
        raise UsageError(f"{what} {name!r} must not contain a path separator")
    if ".." in name or name == ".":
        raise UsageError(f"{what} {name!r} must not contain '..' or be '.'")
    if name != name.strip():
        raise UsageError(f"{what} {name!r} must not start or end with whitespace")
    if name.startswith("-"):
        raise UsageError(f"{what} {name!r} must not start with '-'")
    return name


def validate_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def experiment_dirs(project: Project, exp_id: str, phase: str) -> tuple[Path, Path]:
    """(model folder, experiment folder) of an experiment in production."""
    validate_name(exp_id, "experiment ID")
    validate_name(phase, "phase")
    root = project.artifacts
    return root / MODELS / phase / exp_id, root / EXPERIMENTS / exp_id


def new_test_name() -> str:
    """``test_YYYYmmdd_HHMMSS_<6 hex>`` (UTC)."""
    import secrets

    return time.strftime("test_%Y%m%d_%H%M%S", time.gmtime()) + "_" + secrets.token_hex(3)


def new_run_id() -> str:
    """``YYYYmmdd_HHMMSS_<8 hex>`` (UTC)."""
    import secrets

    return time.strftime("%Y%m%d_%H%M%S", time.gmtime()) + "_" + secrets.token_hex(4)


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (dotted key, YAML-typed value): ``-S data.seed=7``."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(f"-S {text!r} must look like key=value (key may be dotted: data.seed=7)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list):
        raise UsageError(f"-S {text!r}: only single values can be overridden")
    return key, value


def apply_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with dotted-key overrides set; every key must already exist."""
    import copy

    out = copy.deepcopy(params)
    for dotted, value in overrides.items():
        node: Any = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"-S {dotted}: params.yaml has no {part!r} here")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise UsageError(
                f"-S {dotted}: params.yaml has no such parameter",
                hint="-S can only change parameters that params.yaml declares",
            )
        if isinstance(node[parts[-1]], dict):
            raise UsageError(f"-S {dotted}: is a group of parameters, not one value")
        node[parts[-1]] = value
    return out


@dataclass
class Context:
    """Routing for pipeline code: ``ctx.path("models/candidates/v2-006/model.joblib")``."""

    project: Project
    mode: str
    test_name: str | None = None
    # -S overrides of a test run (dotted key -> value), applied by params().
    overrides: dict[str, Any] = field(default_factory=dict)
    # production only: writes may replace a registered experiment's artifacts.
    force: bool = False

    @property
    def base(self) -> Path:
        """Where this context's artifacts go: the artifacts root or a test run folder."""
        if self.mode == "production":
            return self.project.artifacts
        assert self.test_name is not None
        return self.project.artifacts / TESTS / self.test_name

    def path(self, relative: str) -> Path:
        """The routed location of an artifact given relative to the artifacts root."""
        rel = PurePosixPath(relative)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise UsageError(f"artifact path {relative!r} must be relative to the artifacts root")
        if rel.parts[0] == TESTS:
            raise UsageError(f"artifact path {relative!r} must not point into {TESTS}/")
        return self.base.joinpath(*rel.parts)

    def input_path(self, relative: str) -> Path:
        """Where to read an input: the routed copy if this run wrote one, else production's."""
        routed = self.path(relative)
        return routed if routed.exists() else self.project.artifacts / relative

    def params(self) -> dict[str, Any]:
        """params.yaml, with this test run's -S overrides applied."""
        from artifactctl.dvc.yamlio import load_yaml

        params = load_yaml(self.project.root / "params.yaml") or {}
        return apply_overrides(params, self.overrides) if self.overrides else params

    def should_overwrite(self, path: str | Path) -> bool:
        """Whether the overwrite policy lets this context write ``path`` now.

        ``path`` is relative to the artifacts root (routed first) or a routed
        path. Test mode: always. Production: a missing artifact, or one that
        belongs to no registered experiment, or any with ``force``.
        """
        from artifactctl.runs.policy import decide

        target = path if isinstance(path, Path) else self.path(path)
        return decide(self.project, target, self.mode, self.force).allowed


def context(
    mode: str | None = None,
    test_name: str | None = None,
    start: Path | None = None,
    force: bool | None = None,
) -> Context:
    """The routing context for pipeline code, from arguments or the environment.

    A stage that DVC runs (DVC_STAGE is set) is production: DVC records its
    outputs. Otherwise ARTIFACTCTL_MODE and ARTIFACTCTL_TEST_NAME (set by
    ``artifactctl run`` for the stages it runs), then the settings' default mode.
    A test run's -S overrides arrive in ARTIFACTCTL_OVERRIDES (JSON); they are
    ignored in production, where params.yaml is what DVC records.
    """
    project = find_repo(start)
    if mode is None and os.environ.get("DVC_STAGE"):
        mode = "production"  # DVC records the outputs: they must be the canonical ones
    mode = mode or os.environ.get(ENV_MODE) or project.settings.default_mode
    validate_mode(mode)
    overrides: dict[str, Any] = {}
    if mode == "test":
        test_name = validate_name(
            test_name or os.environ.get(ENV_TEST_NAME) or "default", "test name"
        )
        raw = os.environ.get(ENV_OVERRIDES)
        if raw:
            try:
                overrides = json.loads(raw)
            except ValueError:
                raise UsageError(f"{ENV_OVERRIDES} is not valid JSON") from None
            if not isinstance(overrides, dict):
                raise UsageError(f"{ENV_OVERRIDES} must be a JSON object")
    if force is None:
        force = os.environ.get(ENV_FORCE) == "1"
    return Context(
        project=project, mode=mode, test_name=test_name, overrides=overrides, force=force
    )
