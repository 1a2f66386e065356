"""The retention decision: which test runs ``clean`` removes, which it keeps, and why."""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from artifactctl.clean.runs import (
    Skipped,
    TestRun,
    git_tracked,
    measure_runs,
    scan_runs,
    tests_root,
)
from artifactctl.errors import UsageError
from artifactctl.project import Project

SCHEMA = "artifactctl.clean/1"
DAY = 86400.0


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
class CleanPlan:
    """The dry run: exactly the runs ``--force`` removes, and everything it keeps."""

    tests_root: str
    keep_recent: int
    max_age_days: float
    name_glob: str | None
    total_runs: int
    remove: list[Decision] = field(default_factory=list)
    keep: list[Decision] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    leftover_trash: int = 0  # entries an interrupted clean left in the trash
    applied: bool = False
    removed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(d.size for d in self.remove)

    @property
    def warnings(self) -> list[str]:
        out = [f"skipped {s.name!r}: {s.reason}" for s in self.skipped]
        out += [f"{d.name}: {d.note}" for d in (*self.remove, *self.keep) if d.note]
        return out

    def to_dict(self) -> dict[str, Any]:
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
            "remove": [asdict(d) for d in self.remove],
            "keep": [asdict(d) for d in self.keep],
            "skipped": [asdict(s) for s in self.skipped],
            "failures": self.failures,
        }


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

    With ``measure=False`` the runs to remove are not measured (their sizes stay
    0): ``apply_clean`` takes their figures from deleting them, which spares a
    walk of every tree. Such a plan is for applying, not for showing.
    """
    keep_recent = project.settings.retention.keep_recent if keep is None else keep
    max_age = project.settings.retention.max_age_days if older_than is None else older_than
    if keep_recent < 0:
        raise UsageError(f"--keep must not be negative (got {keep_recent})")
    if not (math.isfinite(max_age) and max_age >= 0):  # NaN compares false: no run is old
        raise UsageError(
            f"--older-than must be a finite number of days, 0 or more (got {max_age!r})",
            hint="for example --older-than 30",
        )
    now = time.time() if now is None else now
    root = tests_root(project)
    scan = scan_runs(root)
    tracked = git_tracked(project, root, (r.name for r in scan.runs))
    scan.skipped += [Skipped(n, "holds git-tracked files (never removed)") for n in sorted(tracked)]
    scan.runs = [r for r in scan.runs if r.name not in tracked]
    decided = decide(scan.runs, keep_recent, max_age, now, name_glob)
    measure_runs(root, (run for run, remove, _ in decided if measure or not remove))
    rel_root = project.rel(root)
    plan = CleanPlan(
        rel_root,
        keep_recent,
        max_age,
        name_glob,
        total_runs=len(scan.runs),
        skipped=scan.skipped,
        leftover_trash=scan.leftover_trash,
    )
    for run, remove, reason in decided:
        decision = _decision(run, remove, reason, f"{rel_root}/{run.name}", now)
        (plan.remove if remove else plan.keep).append(decision)
    return plan


def _decision(run: TestRun, remove: bool, reason: str, path: str, now: float) -> Decision:
    return Decision(
        name=run.name,
        path=path,
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
