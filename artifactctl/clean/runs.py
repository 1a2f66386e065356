"""The test runs under ``artifacts/tests/``: which folders are runs, how old, how big.

A folder directly under ``artifacts/tests/`` is a test run only when artifactctl
made it: it holds a ``run.json`` (the contract in layout.py) with artifactctl's
schema and a valid ``created`` time (ISO-8601 UTC), which is the run's age.
Anything else (a folder without a valid run.json, loose files, symlinks) is
skipped with a warning and never touched: with ``artifacts_root = "."`` the tests
root is the project's own ``tests/``. ``git_tracked`` names the folders that hold
a git-tracked file; clean never removes those either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from artifactctl.errors import EnvironmentProblem, UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.fs.trees import measure, open_dir
from artifactctl.layout import KEEP_MARKER, RUN_MANIFEST, RUN_SCHEMA
from artifactctl.project import Project

# Where `clean --force` moves runs before deleting them (see clean.apply). The name
# holds '..', which validate_name rejects, so it can never be a run.
TRASH_DIR = "..trash"


@dataclass
class TestRun:
    """One identified test run folder."""

    __test__ = False  # not a pytest class

    name: str
    created: float  # POSIX seconds
    age_source: str  # "run.json": the only source of a run's age
    kept: bool
    note: str = ""
    size: int = 0  # filled in by measure_runs
    files: int = 0


@dataclass
class Skipped:
    """An entry of the tests root that is not a run: never touched."""

    name: str
    reason: str


@dataclass
class RunScan:
    runs: list[TestRun] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    leftover_trash: int = 0  # entries an interrupted clean left in the trash


def tests_root(project: Project) -> Path:
    root = project.tests_dir
    if root.is_symlink():
        raise UsageError(
            f"{project.rel(root)} is a symlink; clean refuses to follow it out of the repository",
            hint="replace the link with a real folder",
        )
    return root


def parse_created(value: object) -> float | None:
    """POSIX seconds of an ISO-8601 time (naive means UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_created(run_dir: str) -> tuple[float | None, str]:
    """(run.json's ``created`` in POSIX seconds, "") or (None, why there is none)."""
    try:
        data = read_json(Path(run_dir, RUN_MANIFEST))
    except FileNotFoundError:
        return None, f"no {RUN_MANIFEST}"
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return None, f"{RUN_MANIFEST} is unreadable ({type(exc).__name__})"
    if not isinstance(data, dict) or data.get("schema") != RUN_SCHEMA:
        return None, f"{RUN_MANIFEST} is not artifactctl's (no schema {RUN_SCHEMA!r})"
    created = parse_created(data.get("created"))
    if created is None:
        return None, f"{RUN_MANIFEST} has no valid 'created' time"
    return created, ""


def scan_runs(root: Path) -> RunScan:
    """The runs, skipped entries and trash leftovers under the tests root (runs unmeasured)."""
    scan = RunScan()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return scan
    for entry in entries:
        if entry.name == TRASH_DIR:
            trash_is_dir = entry.is_dir(follow_symlinks=False)
            scan.leftover_trash = len(os.listdir(entry.path)) if trash_is_dir else 1
            continue
        found = identify(entry)
        (scan.runs if isinstance(found, TestRun) else scan.skipped).append(found)
    return scan


def identify(entry: os.DirEntry[str]) -> TestRun | Skipped:
    """The test run in the folder ``entry``, or why it is not one."""
    if entry.is_symlink():
        return Skipped(entry.name, "a symlink, not a run folder (never followed)")
    if not entry.is_dir(follow_symlinks=False):
        return Skipped(entry.name, "not a folder")
    created, problem = read_created(entry.path)
    if created is None:
        return Skipped(entry.name, f"{problem}: not a run artifactctl made (never removed)")
    kept = os.path.lexists(os.path.join(entry.path, KEEP_MARKER))
    return TestRun(entry.name, created, "run.json", kept)


def git_tracked(project: Project, root: Path, names: Iterable[str]) -> set[str]:
    """Which of the folders ``names`` under ``root`` hold a file git tracks."""
    import subprocess

    names = set(names)
    if not names:
        return set()
    rel = project.rel(root)
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--full-name", "--", rel],
            cwd=project.root,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        proc = None  # no git: nothing can be tracked...
    if proc is None or proc.returncode != 0:
        if (project.root / ".git").exists():  # ...but a repository we cannot read is refused
            raise EnvironmentProblem(
                "git ls-files failed: cannot tell which test folders git tracks",
                hint="check that git works in this repository",
            )
        return set()
    prefix = "" if rel == "." else rel + "/"
    found = set()
    for path in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if path.startswith(prefix) and "/" in path[len(prefix) :]:
            found.add(path[len(prefix) :].split("/", 1)[0])
    return found & names


def measure_runs(root: Path, runs: Iterable[TestRun]) -> None:
    """Fill in each run's size and file count (lstat: links count as links, never followed)."""
    runs = list(runs)
    if not runs:
        return
    root_fd = open_dir(root)
    try:
        for run in runs:
            run.size, run.files = measure(root_fd, run.name)
    finally:
        os.close(root_fd)
