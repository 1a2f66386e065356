"""``artifactctl keep``: mark a test run so that retention never removes it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from artifactctl.clean.runs import TRASH_DIR, tests_root
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_json, fsync_dir
from artifactctl.layout import KEEP_MARKER, validate_name
from artifactctl.project import Project


@dataclass
class KeepResult:
    name: str
    path: str
    kept: bool
    changed: bool


def run_folder(project: Project, name: str) -> Path:
    """The folder of the test run ``name``; UsageError (exit 2) if there is none."""
    validate_name(name, "test run name")
    root = tests_root(project)
    run = root / name
    if name == TRASH_DIR or run.is_symlink() or not run.is_dir():
        raise UsageError(
            f"no test run named {name!r} in {project.rel(root)}",
            hint=f"a test run name is a folder under {project.rel(root)}/ "
            "(`artifactctl clean` lists the ones retention would remove)",
        )
    return run


def set_kept(project: Project, name: str, kept: bool = True) -> KeepResult:
    """Mark a test run kept (``clean`` never removes it) or unmark it."""
    run = run_folder(project, name)
    was = os.path.lexists(run / KEEP_MARKER)
    # the run's folders in the families' tests folders are kept with it
    parts = [tests / name for tests in project.every_tests_dir()[1:]]
    for folder in [run] + [p for p in parts if p.is_dir() and not p.is_symlink()]:
        _mark(folder, kept)
    return KeepResult(name, project.rel(run), kept, was != kept)


def _mark(run: Path, kept: bool) -> None:
    marker = run / KEEP_MARKER
    was = os.path.lexists(marker)
    if kept and not was:
        atomic_write_json(marker, {"kept_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")})
    elif not kept and was:
        os.unlink(marker)
        fsync_dir(run)


def keep_runs(project: Project, names: list[str], kept: bool = True) -> list[KeepResult]:
    """Mark test runs kept, or unmark them; all or nothing: every name is checked first."""
    with project.lock():
        for name in names:
            run_folder(project, name)
        return [set_kept(project, name, kept) for name in names]
