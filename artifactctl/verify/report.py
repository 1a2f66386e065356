"""What ``verify`` found: one verdict per file (``FileCheck``) and the ``VerifyReport``."""

from __future__ import annotations

from operator import attrgetter

SCHEMA = "artifactctl.verify/1"
# Worst first; "preserved" (a preserve rule's local edit) and "ok" are not problems.
STATES = ("corrupted", "missing", "extra", "unreadable", "preserved", "ok")
PROBLEMS = frozenset({"corrupted", "missing", "extra", "unreadable"})
KINDS = ("workspace", "test_run", "saved_run", "cache")


class FileCheck:
    """One file's verdict.

    A plain class, not a dataclass: verify's start-up is timed, and each dataclass
    costs a compile at import.
    """

    def __init__(
        self,
        path: str,  # repository-relative (cache objects: relative when the cache is inside)
        state: str,
        kind: str,  # workspace | test_run | saved_run | cache
        artifact: str,  # the tracked output, run folder or (for cache objects) its output
        recorded_in: str,  # dvc.lock, a .dvc file, a run.json/manifest.json, or the object name
        algorithm: str = "md5",
        expected: str | None = None,
        actual: str | None = None,
        size: int | None = None,
        skipped: bool = False,  # unchanged since it was last hashed: the state vouched for it
        detail: str = "",
    ) -> None:
        self.path = path
        self.state = state
        self.kind = kind
        self.artifact = artifact
        self.recorded_in = recorded_in
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.size = size
        self.skipped = skipped
        self.detail = detail

    def __repr__(self) -> str:
        return f"FileCheck({vars(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileCheck) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def problem(self) -> bool:
        return self.state in PROBLEMS


class _Passed:
    """Files that hashed to what was recorded, kept as columns until someone lists them
    (an object per file costs as much as a tenth of hashing 20,000 small files)."""

    __slots__ = ("cached", "expected", "index", "metas", "rels", "sizes")

    def __init__(
        self,
        index: list[int],
        rels: list[str],
        metas: list[tuple[str, str, str, str]],
        expected: list[str],
        sizes: list[int],
        cached: list[bool],
    ) -> None:
        self.index, self.rels, self.metas = index, rels, metas
        self.expected, self.sizes, self.cached = expected, sizes, cached

    def __len__(self) -> int:
        return len(self.index)

    def _everything(self) -> bool:
        return len(self.index) == len(self.sizes)  # every file passed: sums in C

    def bytes(self, hashed_only: bool) -> int:
        sizes, cached = self.sizes, self.cached
        if hashed_only:
            if self._everything() and not any(cached):
                return sum(sizes)
            return sum(sizes[i] for i in self.index if not cached[i])
        return sum(sizes) if self._everything() else sum(sizes[i] for i in self.index)

    def skipped(self) -> int:
        cached = self.cached
        if self._everything():
            return sum(cached)
        return sum(1 for i in self.index if cached[i])

    def checks(self) -> list[FileCheck]:
        rels, metas, expected, sizes, cached = (
            self.rels,
            self.metas,
            self.expected,
            self.sizes,
            self.cached,
        )
        return [
            FileCheck(rels[i], "ok", *metas[i], expected[i], expected[i], sizes[i], cached[i])
            for i in self.index
        ]


class VerifyReport:
    """Every file's verdict; files that passed are only made FileChecks when listed."""

    def __init__(
        self,
        root: str,
        deep: bool,
        cache: bool,
        tests: bool,
        jobs: int,
        seconds: float,
        files: list[FileCheck],
        artifacts: int = 0,
        runs: int = 0,
        notes: list[str] | None = None,
        passed: list[_Passed] | None = None,
    ) -> None:
        self.root, self.deep, self.cache, self.tests = root, deep, cache, tests
        self.jobs, self.seconds = jobs, seconds
        self.artifacts = artifacts  # DVC outputs checked
        self.runs = runs  # test runs and saved runs checked
        self.notes = notes if notes is not None else []
        self._checks = files  # sorted, worst first
        self._passed = passed or []
        self._files: list[FileCheck] | None = None if self._passed else files

    @property
    def files(self) -> list[FileCheck]:
        """Every file's verdict, worst first (then by kind and path)."""
        if self._files is None:
            kinds = {k: i for i, k in enumerate(KINDS)}
            ok = [c for p in self._passed for c in p.checks()]
            ok.sort(key=lambda c: (kinds[c.kind], c.path))
            self._files = _merge_sorted(self._checks, ok)
        return self._files

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for state in map(attrgetter("state"), self._checks):
            counts[state] += 1
        counts["ok"] += sum(len(p) for p in self._passed)
        return counts

    @property
    def total(self) -> int:
        return len(self._checks) + sum(len(p) for p in self._passed)

    @property
    def problems(self) -> list[FileCheck]:
        return [f for f in self._checks if f.problem]

    @property
    def flagged(self) -> list[FileCheck]:
        """Every file whose state is not "ok" (problems and preserved), worst first."""
        return [f for f in self._checks if f.state != "ok"]

    @property
    def ok(self) -> bool:
        return PROBLEMS.isdisjoint(map(attrgetter("state"), self._checks))

    @property
    def bytes_checked(self) -> int:
        own = sum(f.size or 0 for f in self._checks if f.actual is not None)
        return own + sum(p.bytes(False) for p in self._passed)

    @property
    def bytes_hashed(self) -> int:
        own = sum(f.size or 0 for f in self._checks if f.actual is not None and not f.skipped)
        return own + sum(p.bytes(True) for p in self._passed)

    @property
    def skipped(self) -> int:
        own = sum(1 for f in self._checks if f.skipped)
        return own + sum(p.skipped() for p in self._passed)

    @property
    def method(self) -> str:
        if self.deep:
            return "deep: every file re-hashed"
        return f"{self.skipped} unchanged file(s) trusted from the hash state, the rest re-hashed"

    def to_dict(self) -> dict:
        seconds = max(self.seconds, 1e-9)
        files = self.files
        bytes_hashed = self.bytes_hashed
        return {
            "schema": SCHEMA,
            "root": self.root,
            "ok": self.ok,
            "deep": self.deep,
            "cache": self.cache,
            "tests": self.tests,
            "summary": {
                "files": len(files),
                **self.counts,
                "problems": len(self.problems),
                "artifacts": self.artifacts,
                "runs": self.runs,
                "skipped_unchanged": self.skipped,
                "bytes_checked": self.bytes_checked,
                "bytes_hashed": bytes_hashed,
                "seconds": round(self.seconds, 4),
                "mb_per_s": round(bytes_hashed / seconds / 1e6, 1),
                "method": self.method,
                "jobs": self.jobs,
            },
            "notes": self.notes,
            # vars(), not asdict(): asdict deep-copies and costs seconds on 20,000 files
            "files": [{**vars(f), "problem": f.state in PROBLEMS} for f in files],
        }


def _merge_sorted(worse: list[FileCheck], ok: list[FileCheck]) -> list[FileCheck]:
    """``worse`` then ``ok``: every state in ``worse`` sorts before "ok" except "ok" itself."""
    if not any(c.state == "ok" for c in worse):
        return worse + ok
    return _sorted(worse + ok)


def _sorted(checks: list[FileCheck]) -> list[FileCheck]:
    order = {s: i for i, s in enumerate(STATES)}
    kinds = {k: i for i, k in enumerate(KINDS)}
    return sorted(checks, key=lambda c: (order[c.state], kinds[c.kind], c.path))
