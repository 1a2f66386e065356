"""The routing context of pipeline code: where a stage writes in test or production mode.

Pipeline code asks the context for paths instead of hard-coding them, so the
same stage writes the canonical tree in production mode and a disposable copy
under ``artifacts/tests/<name>/`` in test mode.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from artifactctl.config import Mode
from artifactctl.errors import UsageError
from artifactctl.layout import (
    ENV_FORCE,
    ENV_MODE,
    ENV_OVERRIDES,
    ENV_TEST_NAME,
    validate_mode,
    validate_name,
)
from artifactctl.overrides import apply_overrides
from artifactctl.project import Project, find_repo


@dataclass
class Context:
    """Routing for pipeline code: ``ctx.path("models/candidates/v2-006/model.joblib")``."""

    project: Project
    mode: Mode
    test_name: str | None = None
    # -S overrides of a test run (dotted key -> value), applied by params().
    overrides: dict[str, Any] = field(default_factory=dict)
    # production only: writes may replace a registered experiment's artifacts.
    force: bool = False

    @property
    def base(self) -> Path:
        """Where this context's artifacts go: the artifacts root or a test run folder."""
        if self.mode == Mode.PRODUCTION:
            return self.project.artifacts
        assert self.test_name is not None
        return self.project.tests_dir / self.test_name

    def path(self, relative: str) -> Path:
        """The routed location of an artifact given relative to the artifacts root."""
        rel = PurePosixPath(relative)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise UsageError(f"artifact path {relative!r} must be relative to the artifacts root")
        target = self.project.artifacts.joinpath(*rel.parts)
        for tests in self.project.every_tests_dir():
            if target == tests or tests in target.parents:
                raise UsageError(
                    f"artifact path {relative!r} must not point into {self.project.rel(tests)}/"
                )
        if self.mode == Mode.TEST:
            # an artifact of a family with its own tests folder goes there
            for home, tests in self.project.family_tests():
                if home in target.parents:
                    assert self.test_name is not None
                    return tests / self.test_name / target.relative_to(home)
        return self.base.joinpath(*rel.parts)

    @property
    def bases(self) -> list[Path]:
        """Every folder this context may write: ``base``, then in test mode this run's
        folder in each family's tests folder."""
        if self.mode == Mode.PRODUCTION:
            return [self.base]
        assert self.test_name is not None
        return [self.base] + [
            tests / self.test_name for tests in self.project.every_tests_dir()[1:]
        ]

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
    mode: Mode | str | None = None,
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
        mode = Mode.PRODUCTION  # DVC records the outputs: they must be the canonical ones
    mode = validate_mode(mode or os.environ.get(ENV_MODE) or project.settings.default_mode)
    overrides: dict[str, Any] = {}
    if mode == Mode.TEST:
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
