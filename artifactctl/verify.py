"""``verify``: re-hash artifacts against what was recorded, and name every bad file.

Three sources of truth are checked:

- DVC outputs under the artifacts root: each workspace file's MD5 against
  dvc.lock / ``*.dvc`` files, and for tracked directories every file against
  the directory's ``.dir`` manifest in the cache (plus missing and extra files);
- test runs (``artifacts/tests/<name>/run.json``) and saved runs
  (``.../runs/<id>/manifest.json``): each listed file's SHA-256 and size;
- with ``cache``: the local cache objects the workspace references, whose
  content must hash to their name (DVC has no ``cache check``).

Unless ``deep``, a file whose size, mtime and inode match the hash state (the
one ``status`` keeps too) is not re-read.
"""

from __future__ import annotations

import gc
import json
import os
import stat
import time
from collections.abc import Callable, Iterable
from operator import attrgetter
from pathlib import Path, PurePosixPath

from artifactctl.errors import UsageError
from artifactctl.hashing import (
    RACY_NS,
    Hashed,
    HashState,
    dir_md5,
    hash_columns,
    hash_many,
    state_file,
    walk_relpaths,
)
from artifactctl.layout import (
    KEEP_MARKER,
    RUN_MANIFEST,
    RUNS,
    SAVED_RUN_MANIFEST,
    TESTS,
)
from artifactctl.project import Project
from artifactctl.tracked import TrackedOut, cache_object, read_manifest_columns, tracked_outs

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


class _Group:
    """Files checked alike (one tracked folder, one run, ...) as columns."""

    __slots__ = ("_keys", "_rels", "base", "expected", "meta", "paths", "sizes")

    def __init__(
        self,
        meta: tuple[str, str, str, str],  # kind, artifact, recorded_in, algorithm
        paths: list[str],  # to open: absolute, or relative to the root (or to base)
        rels: list[str] | None,  # repository-relative (None: base + "/" + path)
        expected: list[str],
        keys: list[str] | None = None,  # state keys (default: rels)
        sizes: list[int | None] | None = None,  # recorded sizes, when the record has them
        base: str | None = None,  # a folder below the root that paths are relative to
    ) -> None:
        self.meta, self.paths, self._rels, self.expected = meta, paths, rels, expected
        self._keys, self.sizes, self.base = keys, sizes, base

    @property
    def rels(self) -> list[str]:
        """Built on first use: hashing can start without them (see ``_verify``)."""
        if self._rels is None:
            prefix = f"{self.base}/"
            self._rels = [prefix + path for path in self.paths]
        return self._rels

    @property
    def keys(self) -> list[str]:
        return self.rels if self._keys is None else self._keys

    @property
    def root_paths(self) -> list[str]:
        """Paths to open relative to the root (or absolute)."""
        return self.paths if self.base is None else self.rels

    @property
    def artifact(self) -> str:
        return self.meta[1]

    def only(self, keep: list[int]) -> _Group:
        def pick(col: list) -> list:
            return [col[i] for i in keep]

        return _Group(
            self.meta,
            pick(self.root_paths),
            pick(self.rels),
            pick(self.expected),
            None if self._keys is None else pick(self._keys),
            None if self.sizes is None else pick(self.sizes),
        )


class _Expect:
    """A file to hash and what it should hash to."""

    def __init__(
        self,
        path: str,
        rel: str,
        kind: str,
        artifact: str,
        recorded_in: str,
        expected: str,
        algorithm: str = "md5",
        size: int | None = None,  # recorded size, when the record has one
    ) -> None:
        self.path, self.rel, self.kind, self.artifact = path, rel, kind, artifact
        self.recorded_in, self.expected = recorded_in, expected
        self.algorithm, self.size = algorithm, size


def _single(e: _Expect) -> _Group:
    return _Group(
        (e.kind, e.artifact, e.recorded_in, e.algorithm),
        [e.path],
        [e.rel],
        [e.expected],
        [f"cache:{e.expected}"] if e.kind == "cache" else None,
        [e.size],
    )


def verify(
    project: Project,
    paths: Iterable[str] | None = None,
    *,
    deep: bool = False,
    cache: bool = False,
    tests: bool = True,
    jobs: int = 0,
    progress: Callable[[int], Callable[[int], None] | None] | None = None,
) -> VerifyReport:
    """Check the artifacts (or those under ``paths``) and return every file's verdict.

    ``progress(total_bytes)`` may return an ``advance(n)`` callback (called from
    worker threads) for a progress bar.
    """
    _MANIFESTS.clear()
    _MEMO[:] = [project.state_dir / "manifests"]
    # Several objects per file and no cycles among them: the collector's passes over
    # 100,000 live objects cost a tenth of the run (measured), and find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from artifactctl.early import plan_key

        key = plan_key(os.getcwd(), list(paths or []), cache, tests, jobs)
        return _verify(project, paths, deep, cache, tests, jobs, progress, key)
    finally:
        _MANIFESTS.clear()
        if collecting:
            gc.enable()


def _verify(
    project: Project,
    paths: Iterable[str] | None,
    deep: bool,
    cache: bool,
    tests: bool,
    jobs: int,
    progress: Callable[[int], Callable[[int], None] | None] | None,
    key: tuple = (),
) -> VerifyReport:
    started = time.perf_counter()
    root = project.root
    jobs = jobs or project.settings.jobs
    scopes = [_scope(project, p) for p in paths or []]
    art_root = project.settings.artifacts_root.rstrip("/")

    # Everything under the artifacts root, or whatever the given paths name.
    every_out = tracked_outs(root)
    outs = [
        o
        for o in every_out
        if o.md5 and (_selected(o.path, scopes) if scopes else _under(o.path, art_root))
    ]
    tracked_dirs = {str(root / o.path) for o in every_out if o.is_dir}
    runs = _find_runs(project, tracked_dirs) if tests else []
    runs = [r for r in runs if _selected(r[0], scopes)]
    notes: list[str] = []
    unfinished = [r for r in runs if _unfinished(root / str(r[1]))]
    for run_dir, _, _ in unfinished:
        notes.append(f"{run_dir}: the run is still running or was interrupted; not verified")
    runs = [r for r in runs if r not in unfinished]
    if scopes and not outs and not runs:
        raise UsageError(
            f"{', '.join(paths or [])}: no DVC-tracked artifact or run there",
            hint="see `artifactctl status`",
        )

    checks: list[FileCheck] = []
    groups: list[_Group] = []
    unmanifested: list[TrackedOut] = []
    for out in outs:
        planned = _plan_out(project, out)
        if planned is None:
            unmanifested.append(out)
        else:
            groups.append(planned)
    run_groups: list[_Group] = []
    for run_dir, manifest, kind in runs:
        run_groups += _plan_run(project, run_dir, manifest, kind, checks)
    if scopes:  # a path inside a tracked folder or a run narrows the check to its files
        groups = _narrow(groups, scopes)
        run_groups = _narrow(run_groups, scopes)
    if cache:
        groups += _plan_cache(project, outs)

    state = HashState(state_file(project))
    # For the progress bar: .dir manifests carry no sizes, their outputs' totals do.
    outs_bytes = sum(o.size or 0 for o in outs)
    cached_bytes = sum(o.size or 0 for o in outs if o.cache)
    total = outs_bytes + sum(n or 0 for g in run_groups for n in g.sizes or ())
    total += cached_bytes if cache else 0
    advance = progress(total) if progress else None

    extras: list[FileCheck] = []

    def meanwhile() -> None:  # work that does not wait for the hashes
        for g in groups:
            g.rels  # noqa: B018  (built here, while helpers hash)
        state.load()
        extras.extend(_extras(project, outs, runs, state=state))

    passed: list[_Passed] = []
    for chosen, algorithm, other in ((groups, "md5", meanwhile), (run_groups, "sha256", None)):
        if not chosen:
            if other is not None:
                other()
            continue
        merged = _merge(chosen)
        top = root if merged.base is None else root / merged.base
        # One tracked folder: open its files below it (shorter lookups); their state keys
        # are wanted only once they are hashed.
        alone = merged.base is not None and top.is_dir()
        if alone and deep and algorithm == "md5":
            _remember_plan(project, outs, merged, key, jobs)
        hashed = hash_columns(
            merged.paths if alone else merged.root_paths,
            (lambda g=merged: g.keys) if alone else merged.keys,
            state=state,
            deep=deep,
            jobs=jobs,
            on_bytes=advance,
            algorithm=algorithm,
            meanwhile=other,
            root=str(top if alone else root),
        )
        passed.append(_judge_all(chosen, merged, hashed, checks))
    for out in unmanifested:
        checks += _check_without_manifest(project, out, state, deep, jobs, advance)
        notes.append(
            f"{out.path}: the directory manifest {out.md5} is not in the local cache; "
            "checked the directory's hash as a whole (run `dvc fetch` to name single files)"
        )
    state.save()

    if any(c.state == "unreadable" and c.kind == "workspace" for c in checks):
        # a recorded file that is now a folder, say: its content is extra too
        extras = _extras(project, outs, runs, exact=True)
    checks += [c for c in extras if _selected(c.path, scopes)]
    rules = project.settings.preserve
    changed = [c for c in checks if c.kind == "workspace" and c.state in ("corrupted", "extra")]
    if rules and changed:
        from artifactctl.preserve import is_preserved

        for c in changed:
            if is_preserved(c.path, rules):
                c.detail = f"{c.state}, kept under a preserve rule"
                c.state = "preserved"
    return VerifyReport(
        root=str(root),
        deep=deep,
        cache=cache,
        tests=tests,
        jobs=jobs,
        seconds=time.perf_counter() - started,
        files=_sorted(checks),
        artifacts=len(outs),
        runs=len(runs),
        notes=notes,
        passed=passed,
    )


def _remember_plan(
    project: Project, outs: list[TrackedOut], group: _Group, key: tuple, jobs: int
) -> None:
    """Let the next run of this command start hashing this folder at once (see early)."""
    from artifactctl.early import remember
    from artifactctl.hashing import lane_plan

    procs, count = lane_plan(len(group.paths), jobs)
    md5 = next((o.md5 for o in outs if o.path == group.base), None)
    if procs >= 2 and md5:
        memo = project.state_dir / "manifests" / f"{md5}.marshal"
        top = project.root / str(group.base)
        remember(str(project.root), key, str(top), str(memo), len(group.paths), count)


def _narrow(groups: list[_Group], scopes: list[str]) -> list[_Group]:
    """Whole artifacts inside a scope as they are; of the others, the files in a scope."""
    narrowed = []
    for g in groups:
        if _inside(g.artifact, scopes):
            narrowed.append(g)
            continue
        keep = [i for i, rel in enumerate(g.rels) if _selected(rel, scopes)]
        if keep:
            narrowed.append(g.only(keep))
    return narrowed


def _merge(groups: list[_Group]) -> _Group:
    """One group's columns for all (the metas become a column)."""
    if len(groups) == 1:
        return groups[0]
    paths: list[str] = []
    rels: list[str] = []
    expected: list[str] = []
    keys: list[str] = []
    for g in groups:
        paths += g.root_paths
        rels += g.rels
        expected += g.expected
        keys += g.keys
    return _Group(("", "", "", ""), paths, rels, expected, keys)


def _judge_all(
    groups: list[_Group], merged: _Group, hashed: Hashed, checks: list[FileCheck]
) -> _Passed:
    """Append a FileCheck to ``checks`` for every file that did not hash as recorded;
    the others are returned as columns."""
    digests, sizes, cached, errors = hashed.digests, hashed.sizes, hashed.cached, hashed.errors
    metas: list[tuple[str, str, str, str]] = []
    good: list[int] = []
    start = 0
    for g in groups:
        n = len(g.paths)
        metas += [g.meta] * n
        expected = g.expected
        if digests[start : start + n] == expected and not errors:  # the common case
            good += range(start, start + n)
        else:
            for j in range(n):
                i = start + j
                if digests[i] == expected[j] and i not in errors:
                    good.append(i)
                else:
                    size = None if g.sizes is None else g.sizes[j]
                    checks.append(
                        _judge(g, j, digests[i], sizes[i], cached[i], errors.get(i), size)
                    )
        start += n
    return _Passed(good, merged.rels, metas, merged.expected, sizes, cached)


# Each .dir manifest is read once per verify (planning, extras and --cache all need it).
_MANIFESTS: dict[tuple[str, str], tuple[list[str], list[str]] | None] = {}


def _read_manifest(cache_dir: Path, md5: str) -> tuple[list[str], list[str]] | None:
    key = (str(cache_dir), md5)
    if key not in _MANIFESTS:
        _MANIFESTS[key] = read_manifest_columns(cache_dir, md5, _MEMO[0] if _MEMO else None)
    return _MANIFESTS[key]


_MEMO: list[Path] = []  # where manifests are remembered (the project's state folder)


# --- selection ---------------------------------------------------------------


def _scope(project: Project, given: str) -> str:
    path = Path(given)
    try:
        rel = project.rel(path)
    except ValueError:
        raise UsageError(f"{given}: outside the repository {project.root}") from None
    return "" if rel == "." else rel.rstrip("/")


def _under(path: str, top: str) -> bool:
    return top == "" or path == top or path.startswith(top + "/")


def _inside(path: str, scopes: list[str]) -> bool:
    """The path is inside one of the scopes (so is everything under it)."""
    return any(_under(path, s) for s in scopes)


def _selected(path: str, scopes: list[str]) -> bool:
    """No scopes: everything. Else the path is inside a scope, or a scope is inside it."""
    return not scopes or any(_under(path, s) or _under(s, path) for s in scopes)


# --- DVC outputs -------------------------------------------------------------


def _plan_out(project: Project, out: TrackedOut) -> _Group | None:
    """Files of one output with their recorded md5; None when a directory's manifest is absent."""
    assert out.md5 is not None
    root = str(project.root)
    if not out.is_dir:
        return _Group(
            ("workspace", out.path, out.source, "md5"),
            [f"{root}/{out.path}"],
            [out.path],
            [out.md5],
            sizes=[out.size],
        )
    manifest = _read_manifest(project.cache_dir, out.md5)
    if manifest is None:
        return None
    names, md5s = manifest
    meta = ("workspace", out.path, f"{out.source} ({out.md5})", "md5")
    return _Group(meta, names, None, md5s, base=out.path)


def _check_without_manifest(
    project: Project,
    out: TrackedOut,
    state: HashState,
    deep: bool,
    jobs: int,
    advance: Callable[[int], None] | None,
) -> list[FileCheck]:
    """A directory whose .dir object is gone: compare its whole hash, the best we can do."""
    top = project.root / out.path
    base = FileCheck(out.path, "ok", "workspace", out.path, out.source, expected=out.md5)
    if not top.is_dir():
        base.state, base.detail = "missing", "directory missing"
        return [base]
    rels = sorted(walk_relpaths(top))
    hashed = hash_many(
        [(f"{top}/{rel}", f"{out.path}/{rel}") for rel in rels],
        state=state,
        deep=deep,
        jobs=jobs,
        on_bytes=advance,
    )
    bad = [h for h in hashed if h.digest is None]
    if bad:
        base.state, base.detail = "unreadable", f"{bad[0].key}: {bad[0].error}"
        return [base]
    base.actual = dir_md5((rel, h.digest) for rel, h in zip(rels, hashed, strict=True))  # type: ignore[misc]
    base.size = sum(h.size for h in hashed)
    base.skipped = all(h.from_state for h in hashed)
    if base.actual != out.md5:
        base.state = "corrupted"
        base.detail = "directory content differs; its manifest is not in the cache"
    return [base]


def _extras(
    project: Project,
    outs: list[TrackedOut],
    runs: list,
    exact: bool = False,
    state: HashState | None = None,
) -> list[FileCheck]:
    """Files present in a tracked directory or a run folder that nothing records.

    Not ``exact``: a recorded name is taken for the file it was (see ``unknown_files``);
    the caller asks again with ``exact`` when one of them could not be read as a file.
    """
    found = []
    ignored = _dvcignore(project.root) if any(o.is_dir for o in outs) else None
    for out in outs:
        if not out.is_dir:
            continue
        manifest = _read_manifest(project.cache_dir, out.md5 or "")
        top = project.root / out.path
        if manifest is None or not top.is_dir():
            continue
        if exact:
            known = set(manifest[0])
            unknown = [rel for rel in walk_relpaths(top) if rel not in known]
        else:
            unknown = _unknown(str(top), out, manifest[0], state)
        for rel in unknown:
            repo_rel = f"{out.path}/{rel}"
            if not (ignored and ignored(repo_rel)):
                found.append(_extra(top / rel, repo_rel, "workspace", out.path, out.source))
    nested = {run_dir for run_dir, _, _ in runs}
    for run_dir, manifest, kind in runs:
        if manifest is None:
            continue
        top = project.root / run_dir
        recorded = project.root / manifest
        listed = _manifest_files(recorded)
        if listed is None:
            continue  # already reported unreadable; without a list nothing is "extra"
        known = set(listed)
        for rel in walk_relpaths(top):
            path = top / rel
            repo_rel = f"{run_dir}/{rel}"
            if rel in known or path == recorded or rel == KEEP_MARKER:
                continue
            # a saved run inside a test run answers to its own manifest
            if any(n != run_dir and _under(repo_rel, n) for n in nested):
                continue
            found.append(_extra(path, repo_rel, kind, run_dir, manifest))
    return found


def unknown_files(top: str, names: list[str]) -> tuple[list[str], list[tuple[str, int, int]]]:
    """What ``walk_relpaths(top)`` lists beyond ``names`` (POSIX paths relative to ``top``),
    taking each of ``names`` for the file it was without looking at it; and each folder
    listed, as (path relative to ``top``, inode, mtime_ns) read before listing it.

    One ``listdir`` per folder and set lookups, not an object and a type check per entry.
    """
    known = set(names)
    folders = {""}
    for folder in {name.rpartition("/")[0] for name in names}:
        while folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    found: list[str] = []
    listed: list[tuple[str, int, int]] = []
    try:
        st = os.lstat(top)
    except OSError:
        return found, listed
    stack = [("", st)]
    while stack:
        folder, st = stack.pop()
        try:
            entries = os.listdir(f"{top}/{folder}" if folder else top)
        except (FileNotFoundError, NotADirectoryError):
            continue
        listed.append((folder, st.st_ino, st.st_mtime_ns))
        prefix = folder + "/" if folder else ""
        for rel in [prefix + e for e in entries if prefix + e not in known]:
            path = f"{top}/{rel}"
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):  # a recorded folder, or a new one: all of it
                if rel in folders:
                    stack.append((rel, st))
                else:
                    found += [f"{rel}/{sub}" for sub in walk_relpaths(path)]
            elif stat.S_ISREG(st.st_mode) or (stat.S_ISLNK(st.st_mode) and os.path.isfile(path)):
                found.append(rel)
    return found, listed


def _unchanged(top: str, listed: list[tuple[str, int, int]]) -> bool:
    """Whether every folder is still the one listed then: same inode, same mtime (a
    folder's mtime moves whenever an entry is added, removed or renamed in it)."""
    lstat, isdir = os.lstat, stat.S_ISDIR
    for folder, ino, mtime in listed:
        try:
            st = lstat(f"{top}/{folder}" if folder else top)
        except OSError:
            return False
        if st.st_ino != ino or st.st_mtime_ns != mtime or not isdir(st.st_mode):
            return False
    return True


def _unknown(top: str, out: TrackedOut, names: list[str], state: HashState | None) -> list[str]:
    """``unknown_files``, or what it found last time when no folder changed since then.

    Remembered in the hash state (like git's untracked cache) for this manifest, and
    only when every folder was last changed before the racy window.
    """
    key = f"walk:{out.path}"
    memo = state.memo_get(key) if state is not None else None
    if (
        isinstance(memo, tuple)
        and len(memo) == 3
        and memo[0] == out.md5
        and _unchanged(top, memo[1])
    ):
        return list(memo[2])
    found, listed = unknown_files(top, names)
    racy = time.time_ns() - RACY_NS
    # with extras (maybe in new folders, which are not in ``listed``): walk again next time
    if state is not None and not found and all(mtime < racy for _, _, mtime in listed):
        state.memo_put(key, (out.md5, listed, found))
    return found


def _extra(path: Path, rel: str, kind: str, artifact: str, recorded_in: str) -> FileCheck:
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    return FileCheck(
        rel, "extra", kind, artifact, recorded_in, size=size, detail="not in the recorded manifest"
    )


def _dvcignore(root: Path) -> Callable[[str], bool] | None:
    """The root .dvcignore as a predicate on repository-relative paths (None: no rules)."""
    path = root / ".dvcignore"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return None
    import pathspec

    spec = pathspec.PathSpec.from_lines("gitwildmatch", lines)
    return spec.match_file


# --- cache objects -----------------------------------------------------------


def _plan_cache(project: Project, outs: list[TrackedOut]) -> list[_Group]:
    cache = project.cache_dir
    objects: dict[str, str] = {}  # oid -> the output it backs
    for out in outs:
        if not out.cache or not out.md5:
            continue
        objects.setdefault(out.md5, out.path)
        if out.is_dir:
            for md5 in (_read_manifest(cache, out.md5) or ((), ()))[1]:
                objects.setdefault(md5, out.path)
    groups = []
    for oid, artifact in sorted(objects.items()):
        path = cache_object(cache, oid)
        e = _Expect(
            str(path),
            _display(project.root, path),
            "cache",
            artifact,
            "object name",
            oid.removesuffix(".dir"),
        )
        groups.append(_single(e))
    return groups


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --- test runs and saved runs -----------------------------------------------


def _find_runs(project: Project, skip: set[str]) -> list[tuple[str, str | None, str]]:
    """(run folder, its manifest or None, kind) for test runs and saved runs.

    ``skip``: folders not to search (DVC-tracked directories: DVC answers for them).
    """
    art = project.artifacts
    runs: list[tuple[str, str | None, str]] = []
    tests_dir = art / TESTS
    if tests_dir.is_dir():
        for entry in sorted(os.scandir(tests_dir), key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                manifest = Path(entry.path) / RUN_MANIFEST
                runs.append(
                    (
                        project.rel(Path(entry.path)),
                        project.rel(manifest) if manifest.is_file() else None,
                        "test_run",
                    )
                )
    stack = [art]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name == RUNS:
                for run in sorted(os.scandir(entry.path), key=lambda e: e.name):
                    manifest = Path(run.path) / SAVED_RUN_MANIFEST
                    if run.is_dir(follow_symlinks=False) and manifest.is_file():
                        runs.append(
                            (project.rel(Path(run.path)), project.rel(manifest), "saved_run")
                        )
            elif entry.name not in (".git", ".dvc") and entry.path not in skip:
                stack.append(Path(entry.path))
    # test runs without a run.json are not verifiable: keep them out of the count
    return [r for r in runs if r[1] is not None]


def _unfinished(manifest: Path) -> bool:
    """A test run whose run.json says it is still running (written before the stages)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status") == "running"


def _manifest_files(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else None


def _plan_run(
    project: Project, run_dir: str, manifest: str | None, kind: str, checks: list[FileCheck]
) -> list[_Group]:
    assert manifest is not None
    files = _manifest_files(project.root / manifest)
    if files is None:
        checks.append(
            FileCheck(
                manifest,
                "unreadable",
                kind,
                run_dir,
                manifest,
                algorithm="sha256",
                detail="manifest is not valid JSON with a 'files' table",
            )
        )
        return []
    paths: list[str] = []
    rels: list[str] = []
    expects: list[str] = []
    sizes: list[int | None] = []
    for rel, entry in sorted(files.items()):
        entry = entry if isinstance(entry, dict) else {}
        parts = PurePosixPath(rel).parts
        if PurePosixPath(rel).is_absolute() or ".." in parts or not parts:
            checks.append(
                FileCheck(
                    f"{run_dir}/{rel}",
                    "unreadable",
                    kind,
                    run_dir,
                    manifest,
                    "sha256",
                    detail="path in the manifest points outside the run folder",
                )
            )
            continue
        expected = entry.get("sha256")
        size = entry.get("size")
        paths.append(f"{project.root}/{run_dir}/{rel}")
        rels.append(f"{run_dir}/{rel}")
        expects.append(str(expected or ""))
        sizes.append(size if isinstance(size, int) else None)
    return [_Group((kind, run_dir, manifest, "sha256"), paths, rels, expects, sizes=sizes)]


# --- verdicts ----------------------------------------------------------------


def _judge(
    g: _Group,
    j: int,
    digest: str | None,
    size: int,
    cached: bool,
    error: str | None,
    recorded_size: int | None,
) -> FileCheck:
    """The verdict on a file that did not hash to what was recorded."""
    kind, artifact, recorded_in, algorithm = g.meta
    expected = g.expected[j]
    check = FileCheck(
        g.rels[j],
        "ok",
        kind,
        artifact,
        recorded_in,
        algorithm=algorithm,
        expected=expected,
        actual=digest,
        size=size if error != "missing" else recorded_size,
        skipped=cached,
    )
    if error == "missing":
        check.state = "missing"
        check.detail = "object missing" if kind == "cache" else "file missing"
    elif digest is None:
        check.state, check.detail = "unreadable", error or "unreadable"
    elif digest != expected:
        check.state = "corrupted"
        if recorded_size is not None and size != recorded_size:
            check.detail = f"size {size} bytes, recorded {recorded_size}"
    return check
