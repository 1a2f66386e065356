"""What `run` and `refresh` return: the stages' results, and whether the run succeeded.

A run whose stage failed, or that the overwrite policy refused, is not an
exception: it is a RunReport with ``ok`` False and ``exit_code`` 1, carrying the
error and its hint, so that the caller still has the stages that ran. Bad input
and a broken environment still raise ArtifactctlError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artifactctl.config import Mode
from artifactctl.errors import EXIT_CHECK_FAILED, EXIT_OK, ArtifactctlError

OK = "ok"
FAILED = "failed"  # a stage failed, or wrote production files in a test run
REFUSED = "refused"  # the overwrite policy stopped a production run before it began


@dataclass
class StageResult:
    stage: str
    experiment: str | None
    status: str  # ran | unchanged | failed | skipped
    seconds: float = 0.0
    outputs: int = 0  # files written under the stage's (routed) outputs
    metric: float | None = None  # the promotion metric, for evaluate-like stages
    log: str | None = None  # repository-relative


# Not in the JSON document: the terminal gets them as the error line and its hint.
_NOT_JSON = ("message", "hint")


@dataclass
class RunReport:
    mode: Mode
    name: str | None  # the test name (test mode)
    path: str  # where the outputs went, repository-relative
    experiments: list[str]
    stages: list[StageResult] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    replaced: list[dict[str, Any]] = field(default_factory=list)  # forced production replacements
    refused: list[dict[str, Any]] = field(default_factory=list)  # what --force would replace
    backups: list[dict[str, str]] = field(default_factory=list)  # preserved files kept first
    metric: str = "rmse"
    replaced_run: bool = False  # a test run of the same name existed and was replaced
    # test mode: every folder the run wrote, ``path`` first, then its folders in the
    # families' own tests folders (registries.NAME.tests_dir) it wrote to
    folders: list[str] = field(default_factory=list)
    status: str = OK
    error: str | None = None  # a failure's first line
    message: str | None = None  # the whole failure (a failed stage's output tail)
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_CHECK_FAILED

    def fail(self, problem: ArtifactctlError, status: str = FAILED) -> None:
        """Record why the run did not succeed (a refusal lists its paths in ``refused``)."""
        self.status = status
        self.message, self.hint = str(problem), problem.hint
        if status == FAILED:
            self.error = self.message.splitlines()[0]

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        for name in _NOT_JSON:
            del doc[name]
        doc["mode"] = str(self.mode)  # a plain string, as every other value is plain
        return doc


Progress = Callable[[str, StageResult | None], None]  # (stage, None) on start, result on end


def no_progress(stage: str, result: StageResult | None) -> None:
    pass


def count_files(paths: Iterable[Path]) -> int:
    """Files under the outputs a stage wrote (a file counts once, a folder its files)."""
    from artifactctl.hashing import walk_files

    return sum(
        1 if path.is_file() else len(walk_files(path)) if path.is_dir() else 0 for path in paths
    )


def metric_of(paths: Iterable[Path], metric: str) -> float | None:
    """``metric`` from the first ``metrics.json`` among a stage's outputs."""
    for path in paths:
        if path.name == "metrics.json" and path.is_file():
            try:
                value = json.loads(path.read_text()).get(metric)
            except (ValueError, AttributeError):
                return None
            return float(value) if isinstance(value, int | float) else None
    return None
