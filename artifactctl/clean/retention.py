"""Retention of test runs: which runs under ``artifacts/tests/`` to remove, and removing them.

A folder directly under ``artifacts/tests/`` is a test run when it holds a
``run.json`` (the contract in layout.py), or, failing that, when it looks like
one: a name like ``test_20261123_075513_a1b2c3`` or a child folder from the
managed tree (``data``, ``models``, ``experiments``, ``reference``, ``archive``).
Anything else (loose files, symlinks, unknown folders) is skipped with a warning
and never touched.

A run's age comes from ``run.json``'s ``created`` (ISO-8601 UTC); when run.json
is missing or corrupt, from the folder's mtime, and the plan says so.

Removal is crash-safe: each run folder is first renamed (atomically) into the
trash folder ``artifacts/tests/..trash/`` (a name that ``validate_name`` rejects,
so it can never be a run), then the trash is deleted. A SIGKILL leaves every run
whole (not yet renamed) or gone (in the trash); the crash journal makes the next
command finish emptying the trash, and ``clean --force`` always does too.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_json, fsync_dir
from artifactctl.fs.trees import is_dir_at, measure, open_dir, remove_many
from artifactctl.layout import KEEP_MARKER, RUN_MANIFEST, TESTS, validate_name
from artifactctl.project import Project

SCHEMA = "artifactctl.clean/1"
TRASH_DIR = "..trash"  # inside artifacts/tests/; contains '..', so never a valid run name
JOURNAL_OP = "clean"
RUN_NAME = re.compile(r"test_\d{8}_\d{6}_[0-9A-Za-z]{6}")
TREE_CHILDREN = frozenset({"data", "models", "experiments", "reference", "archive"})
DAY = 86400.0


@dataclass
class TestRun:
    """One identified test run folder."""

    name: str
    created: float  # POSIX seconds
    age_source: str  # "run.json" or "mtime"
    kept: bool
    size: int
    files: int
    note: str = ""  # why the age came from the mtime

    __test__ = False  # not a pytest class


@dataclass
class Decision:
    """What clean does with one run: remove it or keep it, and why."""

    name: str
    path: str  # repository-relative
    created: str  # ISO-8601 UTC
    age_days: float
    age_source: str
    size: int
    files: int
    kept: bool
    action: str  # "remove" | "keep"
    reason: str
    note: str = ""


@dataclass
class Skipped:
    name: str
    reason: str


@dataclass
class CleanPlan:
    """The dry run: exactly the runs ``--force`` removes, and everything it keeps."""

    tests_root: str
    keep_recent: int
    max_age_days: float
    name_glob: str | None
    total_runs: int
    remove: list[Decision]
    keep: list[Decision]
    skipped: list[Skipped] = field(default_factory=list)
    leftover_trash: int = 0  # entries an interrupted clean left in the trash
    applied: bool = False
    removed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    measured: bool = True  # False: sizes are filled in by apply_clean (plan_clean(measure=False))

    @property
    def bytes_reclaimed(self) -> int:
        return sum(d.size for d in self.remove)

    @property
    def warnings(self) -> list[str]:
        out = [f"skipped {s.name!r}: {s.reason}" for s in self.skipped]
        out += [f"{d.name}: {d.note}" for d in (*self.remove, *self.keep) if d.note]
        return out

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "tests_root": self.tests_root,
            "dry_run": not self.applied,
            "settings": {
                "keep_recent": self.keep_recent,
                "max_age_days": self.max_age_days,
                "name": self.name_glob,
            },
            "summary": {
                "runs": self.total_runs,
                "kept": len(self.keep),
                "removed" if self.applied else "to_remove": len(self.remove),
                "bytes_reclaimed": self.bytes_reclaimed,
                "skipped": len(self.skipped),
                "leftover_trash": self.leftover_trash,
            },
            # vars() copies: every field is a plain value (asdict deep-copies, ~10x slower)
            "remove": [dict(vars(d)) for d in self.remove],
            "keep": [dict(vars(d)) for d in self.keep],
            "skipped": [dict(vars(s)) for s in self.skipped],
            "failures": self.failures,
        }


# --- scanning ---------------------------------------------------------------


def tests_root(project: Project) -> Path:
    root = project.artifacts / TESTS
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


def _read_bytes(path: str) -> bytes:
    """The whole file (os.open/os.read: half the cost of open() for a small file)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_created(run_dir: str) -> tuple[float | None, str]:
    import json

    try:
        data = json.loads(_read_bytes(os.path.join(run_dir, RUN_MANIFEST)))
    except FileNotFoundError:
        return None, f"no {RUN_MANIFEST}"
    except (OSError, ValueError) as exc:
        return None, f"{RUN_MANIFEST} is unreadable ({type(exc).__name__})"
    created = parse_created(data.get("created")) if isinstance(data, dict) else None
    if created is None:
        return None, f"{RUN_MANIFEST} has no valid 'created' time"
    return created, ""


def scan_runs(root: Path, sizes: bool = True) -> tuple[list[TestRun], list[Skipped], int]:
    """(identified runs, skipped entries, leftover trash entries) under the tests root.

    With ``sizes=False`` every run's size and file count are left at 0 (see ``measure_runs``).
    """
    runs: list[TestRun] = []
    skipped: list[Skipped] = []
    leftover = 0
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return [], [], 0
    for entry in entries:
        if entry.name == TRASH_DIR:
            leftover = len(os.listdir(entry.path)) if entry.is_dir(follow_symlinks=False) else 1
            continue
        if entry.is_symlink():
            skipped.append(Skipped(entry.name, "a symlink, not a run folder (never followed)"))
            continue
        if not entry.is_dir(follow_symlinks=False):
            skipped.append(Skipped(entry.name, "not a folder"))
            continue
        try:
            children = set(os.listdir(entry.path))
        except OSError as exc:
            skipped.append(Skipped(entry.name, f"unreadable ({exc.strerror})"))
            continue
        has_manifest = RUN_MANIFEST in children
        if not has_manifest and not (RUN_NAME.fullmatch(entry.name) or children & TREE_CHILDREN):
            skipped.append(
                Skipped(entry.name, f"no {RUN_MANIFEST} and does not look like a test run")
            )
            continue
        created, note = _read_created(entry.path) if has_manifest else (None, f"no {RUN_MANIFEST}")
        source = "run.json"
        if created is None:
            created = entry.stat(follow_symlinks=False).st_mtime
            source = "mtime"
            note = f"{note}; age from the folder's mtime"
        runs.append(
            TestRun(
                name=entry.name,
                created=created,
                age_source=source,
                kept=KEEP_MARKER in children,
                size=0,
                files=0,
                note=note if source == "mtime" else "",
            )
        )
    if sizes:
        measure_runs(root, runs)
    return runs, skipped, leftover


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


# --- deciding ---------------------------------------------------------------


def newest_first(runs: Iterable[TestRun]) -> list[TestRun]:
    """Newest first; equal times are ordered by name (the larger name counts as newer)."""
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)


def decide(
    runs: Sequence[TestRun],
    keep_recent: int,
    max_age_days: float,
    now: float,
    name_glob: str | None = None,
) -> list[tuple[TestRun, bool, str]]:
    """(run, remove?, reason) for every run the glob selects, newest first.

    A selected run is removed when it is older than ``max_age_days`` or outside
    the ``keep_recent`` newest selected runs, unless it is marked kept or is the
    newest run of all.
    """
    ordered = newest_first(runs)
    newest = ordered[0].name if ordered else None
    selected = [r for r in ordered if name_glob is None or fnmatch.fnmatchcase(r.name, name_glob)]
    out = []
    for rank, run in enumerate(selected):
        why = []
        if rank >= keep_recent:
            why.append(f"beyond the {keep_recent} newest")
        if (now - run.created) / DAY > max_age_days:
            why.append(f"older than {max_age_days:g} days")
        if not why:
            within = f"one of the {keep_recent} newest, under {max_age_days:g} days"
            out.append((run, False, within))
        elif run.kept:
            out.append((run, False, "marked kept"))
        elif run.name == newest:
            out.append((run, False, "the newest run"))
        else:
            out.append((run, True, ", ".join(why)))
    return out


def plan_clean(
    project: Project,
    keep: int | None = None,
    older_than: float | None = None,
    name_glob: str | None = None,
    now: float | None = None,
    measure: bool = True,
) -> CleanPlan:
    """What ``clean --force`` would remove with these settings (defaults from retention).

    With ``measure=False`` no run is measured here (sizes and files stay 0):
    ``apply_clean`` measures each removed run as it deletes it and the kept
    runs meanwhile, which spares a walk of every tree. Such a plan is for
    applying, not for showing.
    """
    keep_recent = project.settings.retention.keep_recent if keep is None else keep
    max_age = project.settings.retention.max_age_days if older_than is None else older_than
    if keep_recent < 0 or max_age < 0:
        raise UsageError("--keep and --older-than must not be negative")
    now = time.time() if now is None else now
    root = tests_root(project)
    runs, skipped, leftover = scan_runs(root, sizes=False)
    decided = decide(runs, keep_recent, max_age, now, name_glob)
    if measure:
        measure_runs(root, (run for run, _, _ in decided))
    rel_root = project.rel(root)
    plan = CleanPlan(
        rel_root, keep_recent, max_age, name_glob, len(runs), [], [], skipped, leftover
    )
    plan.measured = measure
    for run, remove, reason in decided:
        decision = Decision(
            name=run.name,
            path=f"{rel_root}/{run.name}",
            created=datetime.fromtimestamp(run.created, UTC).isoformat().replace("+00:00", "Z"),
            age_days=round((now - run.created) / DAY, 4),
            age_source=run.age_source,
            size=run.size,
            files=run.files,
            kept=run.kept,
            action="remove" if remove else "keep",
            reason=reason,
            note=run.note,
        )
        (plan.remove if remove else plan.keep).append(decision)
    return plan


# --- removing ---------------------------------------------------------------


def apply_clean(
    project: Project, plan: CleanPlan, on_removed: Callable[[int], None] | None = None
) -> CleanPlan:
    """Remove exactly ``plan.remove`` (crash-safe); call under ``project.lock()``.

    The journal is written first; then each run is renamed into the trash (one
    atomic step: whole or gone) and, once the renames are durable, deleted there
    by forked lanes (``trees.remove_many``): they start on a first durable batch
    while this process renames the rest, then measures the kept runs of an
    unmeasured plan and deletes too. Each removed run's size and files are those
    measured as it was deleted.
    """
    from artifactctl.journal import Journal

    root = tests_root(project)
    trash = root / TRASH_DIR
    names = [d.name for d in plan.remove]
    if not names and not os.path.lexists(trash):
        plan.applied = True
        return _measure_kept(root, plan)
    if trash.is_symlink() or (os.path.lexists(trash) and not trash.is_dir()):
        raise UsageError(
            f"{project.rel(trash)} is not a folder; clean will not move runs into it",
            hint="remove it by hand and run `artifactctl clean --force` again",
        )
    journal = Journal.begin(project, JOURNAL_OP, {"tests_root": project.rel(root), "runs": names})
    trash.mkdir(exist_ok=True)
    token = os.urandom(4).hex()
    root_fd = open_dir(root)
    try:
        trash_fd = open_dir(TRASH_DIR, dir_fd=root_fd)
        try:
            leftovers = os.listdir(trash_fd)  # an interrupted clean's
            targets = [f"{token}-{i}" for i in range(len(names))] + leftovers
            figures = remove_many(
                trash_fd,
                targets,
                before=lambda: _measure_kept(root, plan),
                ready=_renamed(plan, root_fd, trash_fd, targets, first=len(leftovers)),
            )
        finally:
            os.close(trash_fd)
        for decision, got in zip(plan.remove, figures, strict=False):
            if got is not None:
                decision.size, decision.files = got
        plan.failures += _remove_trash_folder(root_fd, trash)
    finally:
        os.close(root_fd)
    if on_removed:
        on_removed(len(plan.removed) + len(leftovers))
    journal.finish()
    plan.applied = True
    removed = set(plan.removed)
    plan.remove = [d for d in plan.remove if d.name in removed]
    plan.leftover_trash = 0
    return plan


FIRST_BATCH = 64  # runs renamed (and made durable) before the lanes start deleting


def _renamed(
    plan: CleanPlan, root_fd: int, trash_fd: int, targets: list[str], first: int
) -> Iterator[list[int]]:
    """Rename ``plan.remove`` into the trash; yield the numbers (in ``targets``) of what
    may be deleted, in two durable batches: the leftovers and a first few runs, then the rest.

    Only this process renames, so nothing in the tests root changes once it has died.
    """
    count = len(plan.remove)
    batch = list(range(count, count + first))  # the leftovers of an interrupted clean
    for i, decision in enumerate(plan.remove):
        if not is_dir_at(root_fd, decision.name):
            plan.failures.append(f"{decision.name}: no longer a run folder; left alone")
        else:
            try:
                os.rename(decision.name, targets[i], src_dir_fd=root_fd, dst_dir_fd=trash_fd)
            except OSError as exc:
                plan.failures.append(f"{decision.name}: {exc.strerror or exc}")
            else:
                plan.removed.append(decision.name)
                batch.append(i)
        if i + 1 == FIRST_BATCH or i + 1 == count:
            with contextlib.suppress(OSError):
                os.fsync(root_fd)  # the renames are durable before anything is deleted
            # These runs are now gone from the tests root; emptying the trash is cleanup.
            yield batch
            batch = []
    if batch:
        yield batch  # only leftovers (no run to remove)


def _measure_kept(root: Path, plan: CleanPlan) -> CleanPlan:
    """Measure the kept runs of a plan made with ``measure=False``."""
    if not plan.measured and plan.keep:
        root_fd = open_dir(root)
        try:
            for decision in plan.keep:
                decision.size, decision.files = measure(root_fd, decision.name)
        finally:
            os.close(root_fd)
    plan.measured = True
    return plan


def _remove_trash_folder(root_fd: int, trash: Path) -> list[str]:
    """Remove the (normally empty) trash folder; failures for whatever could not be deleted."""
    try:
        os.rmdir(TRASH_DIR, dir_fd=root_fd)
        return []
    except FileNotFoundError:
        return []
    except OSError:
        pass
    import shutil

    failures: list[str] = []

    def onerror(func: object, path: str, exc_info: tuple) -> None:
        failures.append(f"{path}: {exc_info[1]}")

    shutil.rmtree(trash, onerror=onerror)
    return failures


def empty_trash(trash: Path, on_removed: Callable[[int], None] | None = None) -> list[str]:
    """Delete the trash folder (links are unlinked, never followed); returns failures."""
    if not os.path.lexists(trash):
        return []
    if trash.is_symlink() or not trash.is_dir():
        return [f"{trash}: not a folder; left alone"]
    root_fd = open_dir(trash.parent)
    try:
        trash_fd = open_dir(TRASH_DIR, dir_fd=root_fd)
        try:
            entries = os.listdir(trash_fd)
            remove_many(trash_fd, entries)
        finally:
            os.close(trash_fd)
        failures = _remove_trash_folder(root_fd, trash)
    finally:
        os.close(root_fd)
    if on_removed:
        on_removed(len(entries))
    return failures


def recover_clean(project: Project, journal: object) -> str:
    """Crash recovery: finish emptying the trash of an interrupted ``clean --force``.

    Called by ``Project.lock()`` with the repository lock held, so the clean
    that wrote this journal is dead and its trash is ours to empty.
    """
    root = project.artifacts / TESTS
    trash = root / TRASH_DIR
    count = len(os.listdir(trash)) if trash.is_dir() and not trash.is_symlink() else 0
    failures = empty_trash(trash)  # also removes an empty trash folder
    journal.finish()  # type: ignore[attr-defined]
    if failures:
        return f"could not finish removing {count} test run(s): {failures[0]}"
    return f"finished removing {count} test run(s) of an interrupted `clean --force`"


# --- keep markers -----------------------------------------------------------


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
            hint="`artifactctl clean` lists the test runs",
        )
    return run


def set_kept(project: Project, name: str, kept: bool = True) -> KeepResult:
    """Mark a test run kept (``clean`` never removes it) or unmark it."""
    run = run_folder(project, name)
    marker = run / KEEP_MARKER
    was = os.path.lexists(marker)
    if kept and not was:
        atomic_write_json(marker, {"kept_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")})
    elif not kept and was:
        os.unlink(marker)
        fsync_dir(run)
    return KeepResult(name, project.rel(run), kept, was != kept)
