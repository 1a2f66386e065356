"""What ``verify`` found: one verdict per file (``FileCheck``) and the ``VerifyReport``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

from artifactctl.errors import EXIT_CHECK_FAILED, EXIT_OK

SCHEMA = "artifactctl.verify/1"
# Worst first; "preserved" (a preserve rule's local edit) and "ok" are not problems.
STATES = ("corrupted", "missing", "extra", "unreadable", "preserved", "ok")
PROBLEMS = frozenset({"corrupted", "missing", "extra", "unreadable"})
KINDS = ("workspace", "test_run", "saved_run", "cache")


@dataclass(slots=True)
class FileCheck:
    """One file's verdict (its fields, in this order, are the JSON document's)."""

    path: str  # repository-relative (cache objects: relative when the cache is inside)
    state: str
    kind: str  # workspace | test_run | saved_run | cache
    artifact: str  # the tracked output, run folder or (for cache objects) its output
    recorded_in: str  # dvc.lock, a .dvc file, a run.json/manifest.json, or the object name
    algorithm: str = "md5"
    expected: str | None = None
    actual: str | None = None
    size: int | None = None
    skipped: bool = False  # unchanged since it was last hashed: the state vouched for it
    detail: str = ""

    @property
    def problem(self) -> bool:
        return self.state in PROBLEMS

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: it deep-copies every value, slow on 20,000 files.
        return {name: getattr(self, name) for name in _FIELDS} | {"problem": self.problem}


_FIELDS = tuple(f.name for f in fields(FileCheck))


def worst_first(checks: list[FileCheck]) -> list[FileCheck]:
    """``checks`` sorted by state (worst first), then kind and path."""
    order = {s: i for i, s in enumerate(STATES)}
    kinds = {k: i for i, k in enumerate(KINDS)}
    return sorted(checks, key=lambda c: (order[c.state], kinds[c.kind], c.path))


@dataclass
class VerifyReport:
    """Every file's verdict, worst first, and what was checked how."""

    root: str
    deep: bool
    cache: bool
    tests: bool
    jobs: int
    seconds: float
    files: list[FileCheck]  # worst first (see worst_first)
    artifacts: int = 0  # DVC outputs checked
    runs: int = 0  # test runs and saved runs checked
    notes: list[str] = field(default_factory=list)
    # not ok although no file failed: nothing under the artifacts root while DVC tracks
    # outputs elsewhere (a "0 files ... all ok" would be wrong)
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def _totals(self) -> tuple[dict[str, int], int, int, int]:
        """Files per state, bytes checked, bytes hashed, files the state vouched for: one
        pass over the files (a report is read whole, once it is made)."""
        counts = dict.fromkeys(STATES, 0)
        checked = hashed = skipped = 0
        for f in self.files:
            counts[f.state] += 1
            if f.actual is not None:
                checked += f.size or 0
                hashed += 0 if f.skipped else f.size or 0
            skipped += f.skipped
        return counts, checked, hashed, skipped

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._totals[0])

    @property
    def total(self) -> int:
        return len(self.files)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self.files if f.problem]

    @property
    def flagged(self) -> list[FileCheck]:
        """Every file whose state is not "ok" (problems and preserved), worst first."""
        return [f for f in self.files if f.state != "ok"]

    @property
    def ok(self) -> bool:
        counts = self._totals[0]
        return not any(counts[state] for state in PROBLEMS) and not self.warnings

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_CHECK_FAILED

    @property
    def bytes_checked(self) -> int:
        return self._totals[1]

    @property
    def bytes_hashed(self) -> int:
        return self._totals[2]

    @property
    def skipped(self) -> int:
        return self._totals[3]

    @property
    def method(self) -> str:
        if self.deep:
            return "deep: every file re-hashed"
        return f"{self.skipped} unchanged file(s) trusted from the hash state, the rest re-hashed"

    def to_dict(self) -> dict:
        bytes_hashed = self.bytes_hashed
        return {
            "schema": SCHEMA,
            "root": self.root,
            "ok": self.ok,
            "deep": self.deep,
            "cache": self.cache,
            "tests": self.tests,
            "summary": {
                "files": len(self.files),
                **self.counts,
                "problems": len(self.problems),
                "artifacts": self.artifacts,
                "runs": self.runs,
                "skipped_unchanged": self.skipped,
                "bytes_checked": self.bytes_checked,
                "bytes_hashed": bytes_hashed,
                "seconds": round(self.seconds, 4),
                "mb_per_s": round(bytes_hashed / max(self.seconds, 1e-9) / 1e6, 1),
                "method": self.method,
                "jobs": self.jobs,
            },
            "notes": self.notes,
            "warnings": self.warnings,
            "files": [f.to_dict() for f in self.files],
        }
