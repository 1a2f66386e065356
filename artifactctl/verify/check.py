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

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from artifactctl.dvc.tracked import TrackedOut, out_files, tracked_outs
from artifactctl.errors import UsageError
from artifactctl.hashing import dir_md5, walk_relpaths
from artifactctl.hashing.many import FileHash, hash_many
from artifactctl.hashing.state import HashState, state_file
from artifactctl.project import Project
from artifactctl.scope import (
    artifacts_scope,
    elsewhere_warning,
    inside,
    overlaps,
    selected,
    user_scope,
)
from artifactctl.verify.extras import find_extras
from artifactctl.verify.plan import Planned, Recorded, plan_cache, plan_outs
from artifactctl.verify.report import FileCheck, VerifyReport, worst_first
from artifactctl.verify.runs import Run, find_runs, plan_run, unfinished

Progress = Callable[[int], Callable[[int], None] | None]


@dataclass
class _Scope:
    """What one verify looks at: outputs, their recorded files, runs."""

    scopes: list[str]
    outs: list[TrackedOut]
    every_out: list[TrackedOut]  # also those outside the scope (see elsewhere_warning)
    recorded: Recorded
    runs: list[Run]
    notes: list[str] = field(default_factory=list)


def verify(
    project: Project,
    paths: Iterable[str] | None = None,
    *,
    deep: bool = False,
    cache: bool = False,
    tests: bool = True,
    jobs: int = 0,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check the artifacts (or those under ``paths``) and return every file's verdict.

    ``progress(total_bytes)`` may return an ``advance(n)`` callback (called from
    worker threads) for a progress bar.
    """
    started = time.perf_counter()
    jobs = jobs or project.settings.jobs
    given = list(paths or [])
    scope = _choose(project, given, tests)
    checks: list[FileCheck] = []
    groups = plan_outs(scope.outs, scope.recorded)
    for run in scope.runs:
        planned, known = plan_run(project, run)
        groups += [planned] if planned is not None else []
        checks += known
    if scope.scopes:
        groups = [g.only(scope.scopes) for g in groups]
    if cache:
        groups += plan_cache(project, scope.outs, scope.recorded)

    state = HashState(state_file(project))
    advance = progress(_total_bytes(scope.outs, groups, cache)) if progress else None
    for algorithm in ("md5", "sha256"):
        chosen = [g for g in groups if g.algorithm == algorithm]
        checks += _check_files(project, chosen, state, deep, jobs, advance)
    for out in scope.outs:
        if scope.recorded[out.path] is None:
            checks.append(_check_without_manifest(project, out, state, deep, jobs, advance))
            scope.notes.append(
                f"{out.path}: the directory manifest {out.md5} is not in the local cache; "
                "checked the directory's hash as a whole (run `dvc fetch` to name single files)"
            )
    state.save()

    extras = find_extras(project, scope.outs, scope.recorded, scope.runs)
    checks += [c for c in extras if selected(c.path, scope.scopes)]
    _mark_preserved(project, checks)
    warning = None
    if not given:
        warning = elsewhere_warning(project, scope.every_out, len(scope.outs))
    return VerifyReport(
        root=str(project.root),
        deep=deep,
        cache=cache,
        tests=tests,
        jobs=jobs,
        seconds=time.perf_counter() - started,
        files=worst_first(checks),
        artifacts=len(scope.outs),
        runs=len(scope.runs),
        notes=scope.notes,
        warnings=[warning] if warning else [],
    )


def _choose(project: Project, given: list[str], tests: bool) -> _Scope:
    """Everything under the artifacts root, or whatever the given paths name."""
    every_out = tracked_outs(project.root)
    scopes = [
        user_scope(project, p, lambda s: any(overlaps(o.path, s) for o in every_out)) for p in given
    ]
    art_root = artifacts_scope(project)
    outs = [
        o
        for o in every_out
        if o.md5 and (selected(o.path, scopes) if scopes else inside(o.path, art_root))
    ]
    tracked_dirs = {str(project.root / o.path) for o in every_out if o.is_dir}
    runs = find_runs(project, tracked_dirs) if tests else []
    runs = [r for r in runs if selected(r.folder, scopes)]
    busy = [r for r in runs if unfinished(project, r)]
    notes = [f"{r.folder}: the run is still running or was interrupted; not verified" for r in busy]
    runs = [r for r in runs if r not in busy]
    if scopes and not outs and not runs:
        raise UsageError(
            f"{', '.join(given)}: no DVC-tracked artifact or run there",
            hint="see `artifactctl status`",
        )
    recorded = {o.path: out_files(project.cache_dir, o) for o in outs}
    return _Scope(scopes, outs, every_out, recorded, runs, notes)


def _total_bytes(outs: list[TrackedOut], groups: list[Planned], cache: bool) -> int:
    """For the progress bar: .dir manifests carry no sizes, their outputs' totals do."""
    total = sum(o.size or 0 for o in outs)
    total += sum(sum(g.sizes.values()) for g in groups if g.kind != "workspace")
    if cache:
        total += sum(o.size or 0 for o in outs if o.cache)
    return total


def _check_files(
    project: Project,
    groups: list[Planned],
    state: HashState,
    deep: bool,
    jobs: int,
    advance: Callable[[int], None] | None,
) -> list[FileCheck]:
    """Hash the groups' files (all with the groups' one algorithm) and judge each."""
    if not groups:
        return []
    root = str(project.root)
    files: list[tuple[str, str]] = []  # (path to open, state key)
    for g in groups:
        if g.kind == "cache":  # it may live outside the repository; known by its name
            files += [(os.path.join(root, path), f"cache:{d}") for path, d in g.files.items()]
        else:
            files += [(f"{root}/{path}", path) for path in g.files]
    hashed = hash_many(
        files,
        state=state,
        deep=deep,
        jobs=jobs,
        on_bytes=advance,
        algorithm=groups[0].algorithm,
    )
    found = iter(hashed)
    return [judge(g, path, digest, next(found)) for g in groups for path, digest in g.files.items()]


def judge(group: Planned, path: str, expected: str, hashed: FileHash) -> FileCheck:
    """The verdict on one file that should hash to ``expected``."""
    check = FileCheck(
        path,
        "ok",
        group.kind,
        group.artifact,
        group.recorded_in,
        group.algorithm,
        expected,
        hashed.digest,
        hashed.size,
        hashed.from_state,
    )
    if hashed.digest == expected:
        return check
    recorded_size = group.sizes.get(path)
    if hashed.error == "missing":
        check.state = "missing"
        check.detail = "object missing" if group.kind == "cache" else "file missing"
        check.size = recorded_size
    elif hashed.digest is None:
        check.state, check.detail = "unreadable", hashed.error or "unreadable"
    elif hashed.digest != expected:
        check.state = "corrupted"
        if recorded_size is not None and hashed.size != recorded_size:
            check.detail = f"size {hashed.size} bytes, recorded {recorded_size}"
    return check


def _check_without_manifest(
    project: Project,
    out: TrackedOut,
    state: HashState,
    deep: bool,
    jobs: int,
    advance: Callable[[int], None] | None,
) -> FileCheck:
    """A directory whose .dir object is gone: compare its whole hash, the best we can do."""
    top = project.root / out.path
    check = FileCheck(out.path, "ok", "workspace", out.path, out.source, expected=out.md5)
    if not top.is_dir():
        check.state, check.detail = "missing", "directory missing"
        return check
    rels = sorted(walk_relpaths(top))
    hashed = hash_many(
        [(f"{top}/{rel}", f"{out.path}/{rel}") for rel in rels],
        state=state,
        deep=deep,
        jobs=jobs,
        on_bytes=advance,
    )
    bad = next((h for h in hashed if h.digest is None), None)
    if bad is not None:
        check.state, check.detail = "unreadable", f"{bad.key}: {bad.error}"
        return check
    check.actual = dir_md5((rel, h.digest or "") for rel, h in zip(rels, hashed, strict=True))
    check.size = sum(h.size for h in hashed)
    check.skipped = all(h.from_state for h in hashed)
    if check.actual != out.md5:
        check.state = "corrupted"
        check.detail = "directory content differs; its manifest is not in the cache"
    return check


def _mark_preserved(project: Project, checks: list[FileCheck]) -> None:
    """A workspace file changed under a preserve rule is "preserved", not a problem."""
    rules = project.settings.preserve
    if not rules:
        return
    changed = [c for c in checks if c.kind == "workspace" and c.state in ("corrupted", "extra")]
    if not changed:
        return
    from artifactctl.sync.preserve import is_preserved  # only where there are rules to apply

    for c in changed:
        if is_preserved(c.path, rules):
            c.detail = f"{c.state}, kept under a preserve rule"
            c.state = "preserved"
