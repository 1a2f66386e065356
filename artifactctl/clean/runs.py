"""The test runs under ``artifacts/tests/``: which folders are runs, how old, how big.

A folder directly under ``artifacts/tests/`` is a test run when it holds a
``run.json`` (the contract in layout.py), or, failing that, when it looks like
one: a name like ``test_20261123_075513_a1b2c3`` or a child folder from the
managed tree (``data``, ``models``, ``experiments``, ``reference``, ``archive``).
Anything else (loose files, symlinks, unknown folders) is skipped with a warning
and never touched.

A run's age comes from ``run.json``'s ``created`` (ISO-8601 UTC); when run.json
is missing or corrupt, from the folder's mtime, and the run's note says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.fs.trees import measure, open_dir
from artifactctl.layout import KEEP_MARKER, RUN_MANIFEST
from artifactctl.project import Project

# Where `clean --force` moves runs before deleting them (see clean.apply). The name
# holds '..', which validate_name rejects, so it can never be a run.
TRASH_DIR = "..trash"
RUN_NAME = re.compile(r"test_\d{8}_\d{6}_[0-9A-Za-z]{6}")
TREE_CHILDREN = frozenset({"data", "models", "experiments", "reference", "archive"})


@dataclass
class TestRun:
    """One identified test run folder."""

    __test__ = False  # not a pytest class

    name: str
    created: float  # POSIX seconds
    age_source: str  # "run.json" or "mtime"
    kept: bool
    note: str = ""  # why the age came from the mtime
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
    created = parse_created(data.get("created")) if isinstance(data, dict) else None
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
    try:
        children = set(os.listdir(entry.path))
    except OSError as exc:
        return Skipped(entry.name, f"unreadable ({exc.strerror})")
    kept = KEEP_MARKER in children
    if RUN_MANIFEST not in children:
        if not (RUN_NAME.fullmatch(entry.name) or children & TREE_CHILDREN):
            return Skipped(entry.name, f"no {RUN_MANIFEST} and does not look like a test run")
        created, note = None, f"no {RUN_MANIFEST}"
    else:
        created, note = read_created(entry.path)
    if created is not None:
        return TestRun(entry.name, created, "run.json", kept)
    mtime = entry.stat(follow_symlinks=False).st_mtime
    return TestRun(entry.name, mtime, "mtime", kept, f"{note}; age from the folder's mtime")


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
