"""Removing the runs of a clean plan, crash-safe, and finishing an interrupted clean.

Each run folder is first renamed (atomically) into the trash folder
``artifacts/tests/..trash/``, then the trash is emptied. A SIGKILL leaves every
run whole (not yet renamed) or gone (in the trash); the crash journal makes the
next command finish emptying the trash, and ``clean --force`` always does too.

The named steps (``ARTIFACTCTL_PAUSE_AT``): ``clean-journal`` once the intent is
durable, ``clean-renaming`` after each run moved into the trash,
``clean-renamed`` once every move is durable, ``clean-deleting`` after each
folder of the trash is deleted (the other threads delete on meanwhile). A step
inside a loop pauses at every pass.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from artifactctl.clean.plan import CleanPlan, Decision, plan_clean
from artifactctl.clean.runs import TRASH_DIR, tests_root
from artifactctl.errors import UsageError
from artifactctl.fs.trees import is_dir_at, open_dir, remove_all
from artifactctl.journal import Journal
from artifactctl.project import Project

JOURNAL_OP = "clean"


def clean_runs(
    project: Project,
    keep: int | None = None,
    older_than: float | None = None,
    name_glob: str | None = None,
    force: bool = False,
) -> CleanPlan:
    """The dry run (default) or, with ``force``, the removal of old test runs.

    One retention over all runs: it decides on the runs of the global tests folder, and a
    run's folder in a family's tests folder (Project.every_tests_dir) goes with it. A
    family folder whose run is not in the global folder is decided by retention among the
    others of its folder. The plans of the folders are merged into one."""
    plans: list[CleanPlan] = []
    verdict: dict[str, bool] = {}  # run name -> removed, by the global folder's plan
    for tests in project.every_tests_dir():
        one = project.with_tests_dir(tests)
        if not force:
            plans.append(_follow(plan_clean(one, keep, older_than, name_glob), verdict))
        else:
            with one.lock():
                # runs are measured as they are deleted: one walk of each tree instead of two
                plan = plan_clean(one, keep, older_than, name_glob, measure=False)
                plans.append(apply_clean(one, _follow(plan, verdict)))
        if len(plans) == 1:
            verdict = {d.name: True for d in plans[0].remove}
            verdict.update({d.name: False for d in plans[0].keep})
    return merge_plans(plans)


def _follow(plan: CleanPlan, verdict: dict[str, bool]) -> CleanPlan:
    """``plan`` with each run the global folder decided on decided the same way."""
    decisions = plan.remove + plan.keep
    plan.remove, plan.keep = [], []
    for d in decisions:
        remove = verdict.get(d.name, d.action == "remove")
        if d.name in verdict and remove != (d.action == "remove"):
            d.action = "remove" if remove else "keep"
            d.reason = "removed with the run" if remove else "kept with the run"
            d.reason += " of that name in the global tests folder"
        (plan.remove if remove else plan.keep).append(d)
    return plan


def merge_plans(plans: list[CleanPlan]) -> CleanPlan:
    """One plan for several tests folders: the first's settings, every folder's runs.
    Decisions name their run by its folder's path (``path``)."""
    merged = plans[0]
    for plan in plans[1:]:
        merged.total_runs += plan.total_runs
        merged.remove += plan.remove
        merged.keep += plan.keep
        merged.skipped += plan.skipped
        merged.leftover_trash += plan.leftover_trash
        merged.removed += plan.removed
        merged.failures += plan.failures
    return merged


def apply_clean(project: Project, plan: CleanPlan) -> CleanPlan:
    """Remove exactly ``plan.remove`` (crash-safe); call under ``project.lock()``.

    Each removed run's size and files are those measured as it was deleted.
    """
    root = tests_root(project)
    trash = root / TRASH_DIR
    if plan.remove or os.path.lexists(trash):
        _check_trash(project, trash)
        intent = {"tests_root": project.rel(root), "runs": [d.name for d in plan.remove]}
        journal = Journal.begin(project, JOURNAL_OP, intent)
        journal.step("clean-journal")
        trash.mkdir(exist_ok=True)
        _remove_through_trash(plan, root, journal)
        journal.finish()
    plan.applied = True
    removed = set(plan.removed)
    plan.remove = [d for d in plan.remove if d.name in removed]
    plan.leftover_trash = 0
    return plan


def _not_a_folder(trash: Path) -> bool:
    """The trash exists but is something runs must not be moved into (a link, a file)."""
    return trash.is_symlink() or (os.path.lexists(trash) and not trash.is_dir())


def _check_trash(project: Project, trash: Path) -> None:
    if _not_a_folder(trash):
        raise UsageError(
            f"{project.rel(trash)} is not a folder; clean will not move runs into it",
            hint="remove it by hand and run `artifactctl clean --force` again",
        )


def _remove_through_trash(plan: CleanPlan, root: Path, journal: Journal) -> None:
    """Move the plan's runs into the trash, make that durable, then empty the trash."""
    token = os.urandom(4).hex()  # trash names of this clean, apart from any leftovers
    with _open_trash(root) as (root_fd, trash_fd):
        leftovers = os.listdir(trash_fd)  # an interrupted clean's
        moved = _move_to_trash(plan, root_fd, trash_fd, token, journal)
        with contextlib.suppress(OSError):  # a file system that cannot fsync a folder
            os.fsync(root_fd)  # the renames are durable before anything is deleted
        journal.step("clean-renamed")
        # These runs are gone from the tests root; emptying the trash is cleanup.
        figures = _delete(trash_fd, [name for _, name in moved] + leftovers, journal)
        for (decision, _), (size, files) in zip(moved, figures, strict=False):
            decision.size, decision.files = size, files
        plan.failures += _remove_trash_folder(root_fd, root / TRASH_DIR)


def _move_to_trash(
    plan: CleanPlan, root_fd: int, trash_fd: int, token: str, journal: Journal
) -> list[tuple[Decision, str]]:
    """Rename each run of the plan into the trash; (decision, trash name) of each moved."""
    moved = []
    for i, decision in enumerate(plan.remove):
        if not is_dir_at(root_fd, decision.name):
            plan.failures.append(f"{decision.name}: no longer a run folder; left alone")
            continue
        name = f"{token}-{i}"
        try:
            os.rename(decision.name, name, src_dir_fd=root_fd, dst_dir_fd=trash_fd)
        except OSError as exc:
            plan.failures.append(f"{decision.name}: {exc.strerror or exc}")
            continue
        plan.removed.append(decision.name)
        moved.append((decision, name))
        journal.step("clean-renaming")
    return moved


def _delete(trash_fd: int, names: list[str], journal: Journal) -> list[tuple[int, int]]:
    """Delete each of ``names`` in the trash; the (bytes, entries) each held."""
    figures = []
    for got in remove_all(trash_fd, names):
        figures.append(got)
        journal.step("clean-deleting")
    return figures


@contextlib.contextmanager
def _open_trash(root: Path) -> Iterator[tuple[int, int]]:
    """Descriptors of the tests root and of its trash folder (neither may be a link)."""
    root_fd = open_dir(root)
    try:
        trash_fd = open_dir(TRASH_DIR, dir_fd=root_fd)
        try:
            yield root_fd, trash_fd
        finally:
            os.close(trash_fd)
    finally:
        os.close(root_fd)


def _remove_trash_folder(root_fd: int, trash: Path) -> list[str]:
    """Remove the (normally empty) trash folder; failures for whatever could not be deleted."""
    try:
        os.rmdir(TRASH_DIR, dir_fd=root_fd)
        return []
    except FileNotFoundError:
        return []
    except OSError:
        pass
    failures: list[str] = []

    def onerror(func: object, path: str, exc_info: tuple) -> None:
        failures.append(f"{path}: {exc_info[1]}")

    shutil.rmtree(trash, onerror=onerror)
    return failures


def recover_clean(project: Project, journal: Journal) -> str:
    """Crash recovery: finish emptying the trash of an interrupted ``clean --force``.

    Called by ``Project.lock()`` with the repository lock held, so the clean
    that wrote this journal is dead and its trash is ours to empty.
    """
    folder = journal.data.get("tests_root")
    tests = project.root / folder if isinstance(folder, str) else project.tests_dir
    if tests not in project.every_tests_dir():
        tests = project.tests_dir  # never a folder the settings do not name
    trash = tests / TRASH_DIR
    count, failures = 0, []
    if _not_a_folder(trash):
        failures = [f"{trash}: not a folder; left alone"]
    elif trash.exists():
        with _open_trash(trash.parent) as (root_fd, trash_fd):
            names = os.listdir(trash_fd)
            count = len(names)
            _delete(trash_fd, names, journal)
            failures = _remove_trash_folder(root_fd, trash)
    journal.finish()
    if failures:
        return f"could not finish removing {count} test run(s): {failures[0]}"
    return f"finished removing {count} test run(s) of an interrupted `clean --force`"
