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
import os
import time
from collections.abc import Callable, Iterable

from artifactctl.dvc.tracked import TrackedOut, tracked_outs
from artifactctl.errors import UsageError
from artifactctl.hashing.many import Hashed, hash_columns
from artifactctl.hashing.state import HashState, state_file
from artifactctl.project import Project
from artifactctl.scope import artifacts_scope, inside, repo_path, selected
from artifactctl.verify.extras import _extras
from artifactctl.verify.plan import (
    _MANIFESTS,
    _MEMO,
    _check_without_manifest,
    _Group,
    _merge,
    _narrow,
    _plan_cache,
    _plan_out,
)
from artifactctl.verify.report import FileCheck, VerifyReport, _Passed, _sorted
from artifactctl.verify.runs import _find_runs, _plan_run, _unfinished


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
        from artifactctl.verify.early import plan_key

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
    scopes = [repo_path(project, p) for p in paths or []]
    art_root = artifacts_scope(project)

    # Everything under the artifacts root, or whatever the given paths name.
    every_out = tracked_outs(root)
    outs = [
        o
        for o in every_out
        if o.md5 and (selected(o.path, scopes) if scopes else inside(o.path, art_root))
    ]
    tracked_dirs = {str(root / o.path) for o in every_out if o.is_dir}
    runs = _find_runs(project, tracked_dirs) if tests else []
    runs = [r for r in runs if selected(r[0], scopes)]
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
    checks += [c for c in extras if selected(c.path, scopes)]
    rules = project.settings.preserve
    changed = [c for c in checks if c.kind == "workspace" and c.state in ("corrupted", "extra")]
    if rules and changed:
        from artifactctl.sync.preserve import is_preserved

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
    from artifactctl.hashing.lane import lane_plan
    from artifactctl.verify.early import remember

    procs, count = lane_plan(len(group.paths), jobs)
    md5 = next((o.md5 for o in outs if o.path == group.base), None)
    if procs >= 2 and md5:
        memo = project.state_dir / "manifests" / f"{md5}.marshal"
        top = project.root / str(group.base)
        remember(str(project.root), key, str(top), str(memo), len(group.paths), count)


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
