"""``status``: every DVC-tracked artifact under the artifacts root and its state.

States, worst first: missing (not in the workspace), modified (content differs
from what DVC recorded), not_in_cache (the recorded object is absent from the
local cache, so it could not be restored), not_pushed (with ``cloud``: the
default remote lacks it), preserved (modified, but under a preserve rule: the local
edit is meant to stay, as ``verify`` says too), ok. The report is not ok when a stage
never ran (a fresh repository is not "all ok") or when nothing was checked under the
artifacts root while DVC tracks outputs elsewhere (``warnings``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from artifactctl.dvc.stages import expected_stages
from artifactctl.dvc.tracked import TrackedOut, objects_absent, out_files, tracked_outs
from artifactctl.hashing import walk_relpaths
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState, state_file
from artifactctl.project import Project
from artifactctl.scope import elsewhere_warning, select_outs

STATES = ("missing", "modified", "not_in_cache", "not_pushed", "preserved", "ok")
SCHEMA = "artifactctl.status/1"


@dataclass
class ArtifactStatus:
    path: str
    kind: str
    experiment: str | None
    size: int | None
    is_dir: bool
    files: int
    state: str
    stage: str | None
    source: str
    detail: str = ""


@dataclass
class StatusReport:
    root: str
    artifacts_root: str
    artifacts: list[ArtifactStatus]
    cloud: bool = False
    remote: str | None = None
    never_run: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for a in self.artifacts:
            counts[a.state] += 1
        return counts

    @property
    def ok(self) -> bool:
        good = all(a.state in ("ok", "preserved") for a in self.artifacts)
        return good and not self.never_run and not self.warnings

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "root": self.root,
            "artifacts_root": self.artifacts_root,
            "cloud": self.cloud,
            "remote": self.remote,
            "ok": self.ok,
            "summary": {"total": len(self.artifacts), **self.counts},
            "never_run": self.never_run,
            "warnings": self.warnings,
            "artifacts": [asdict(a) for a in self.artifacts],
        }


def kind_of(out: TrackedOut, artifacts_root: str, registered: dict[str, str] | None = None) -> str:
    """What an output is: as dvc.yaml declares it, as a registry's templates name it
    (``registered``: path -> model | result), else by the reference tree's folder names."""
    if out.declared_as == "metrics":
        return "metrics"
    if out.declared_as == "plots":
        return "plot"
    if registered and out.path in registered:
        return registered[out.path]
    parts = PurePosixPath(out.path).relative_to(artifacts_root).parts
    first = parts[0] if parts else ""
    return {
        "data": "data",
        "models": "model",
        "reference": "reference",
        "experiments": "result",
        "archive": "archive",
    }.get(first, "other")


def experiment_of(out: TrackedOut, id_pattern: re.Pattern[str]) -> str | None:
    if out.stage and "@" in out.stage:
        return out.stage.split("@", 1)[1]
    return next((p for p in PurePosixPath(out.path).parts if id_pattern.fullmatch(p)), None)


def collect_status(
    project: Project,
    paths: list[str] | None = None,
    *,
    cloud: bool = False,
    remote: str | None = None,
    jobs: int = 0,
) -> StatusReport:
    top = project.settings.artifacts_root.strip("/")
    every_out = tracked_outs(project.root)
    outs = select_outs(project, every_out, paths, default="" if top == "." else top)
    state = HashState(state_file(project))
    cache = project.cache_dir
    families = [project.settings.registry, *project.settings.registries.values()]
    prefixes = "|".join(sorted({re.escape(r.id_prefix) for r in families}))
    id_pattern = re.compile(f"(?:{prefixes})" + r"\d+")

    registered = _registered_kinds(project)
    # Expand every output into (workspace file, expected md5) pairs, then hash them all at once.
    plans = [_plan(cache, out) for out in outs]
    base = str(project.root)
    files = [(f"{base}/{rel}", rel) for plan in plans for rel in plan.expected]
    hashed = {h.key: h for h in hash_many(files, state=state, jobs=jobs)}
    state.save()
    cached = (m for out, plan in zip(outs, plans, strict=True) if out.cache for m in plan.objects)
    absent = objects_absent(cache, cached)

    missing_remote: set[str] = set()
    remote_name = None
    if cloud:
        from artifactctl.dvc.config import get_remote
        from artifactctl.dvc.repo import missing_on_remote

        remote_name = get_remote(project.root, remote).name
        oids = {m for plan in plans for m in plan.objects}
        missing_remote = missing_on_remote(project.root, oids, remote_name)

    results = []
    for out, plan in zip(outs, plans, strict=True):
        st, detail = _state(project.root, out, plan, hashed, absent, missing_remote)
        if st == "modified" and _preserved(project, out, plan, hashed):
            st, detail = "preserved", "modified, kept under a preserve rule"
        results.append(
            ArtifactStatus(
                path=out.path,
                kind=kind_of(out, project.settings.artifacts_root, registered),
                experiment=experiment_of(out, id_pattern),
                size=out.size,
                is_dir=out.is_dir,
                files=out.nfiles or (1 if not out.is_dir else len(plan.expected)),
                state=st,
                stage=out.stage,
                source=out.source,
                detail=detail,
            )
        )
    recorded = {o.stage for o in every_out if o.stage}
    never_run = [s for s in expected_stages(project.root) if s not in recorded] if not paths else []
    warning = None if paths else elsewhere_warning(project, every_out, len(results))
    return StatusReport(
        str(project.root),
        project.settings.artifacts_root,
        results,
        cloud,
        remote_name,
        never_run,
        [warning] if warning else [],
    )


def _registered_kinds(project: Project) -> dict[str, str]:
    """Repository-relative path -> "model" or "result" for every experiment's folders."""
    from artifactctl.errors import UsageError
    from artifactctl.registry.experiments import owned_folders

    try:
        owned = owned_folders(project)
    except UsageError:  # params.yaml is not readable as experiments: status still answers
        return {}
    kinds: dict[str, str] = {}
    for model, results, _ in owned.values():
        kinds.setdefault(project.rel(results), "result")
        kinds[project.rel(model)] = "model"
    return kinds


def _preserved(project: Project, out: TrackedOut, plan: _Plan, hashed: dict) -> bool:
    """Every changed file of the output is under a preserve rule (extra files are not)."""
    rules = project.settings.preserve
    if not rules or out.md5 is None:
        return False
    from artifactctl.sync.preserve import is_preserved

    if not out.is_dir:
        return is_preserved(out.path, rules)
    target = project.root / out.path
    on_disk = {f"{out.path}/{rel}" for rel in walk_relpaths(target)}
    changed = [k for k, md5 in plan.expected.items() if hashed[k].md5 != md5]
    changed += sorted(on_disk.difference(plan.expected))
    return bool(changed) and all(is_preserved(path, rules) for path in changed)


@dataclass
class _Plan:
    expected: dict[str, str]  # repo-relative file -> recorded md5
    objects: set[str]  # cache objects backing the output (incl. the .dir object)
    manifest_missing: bool = False


def _plan(cache: Path, out: TrackedOut) -> _Plan:
    if out.md5 is None:
        return _Plan({}, set())
    expected = out_files(cache, out)
    if expected is None:
        return _Plan({}, {out.md5}, manifest_missing=True)
    if not out.is_dir:
        return _Plan(expected, {out.md5} if out.cache else set())
    return _Plan(expected, {out.md5, *expected.values()})


def _state(
    root: Path,
    out: TrackedOut,
    plan: _Plan,
    hashed: dict,
    absent: set[str],
    missing_remote: set[str],
) -> tuple[str, str]:
    target = root / out.path
    if out.md5 is None:
        return ("missing" if not target.exists() else "modified"), "never recorded by DVC"
    if not target.exists():
        return "missing", ""
    if out.is_dir:
        if plan.manifest_missing:
            return "not_in_cache", f"directory manifest {out.md5} is not in the cache"
        changed = [k for k, md5 in plan.expected.items() if hashed[k].md5 != md5]
        on_disk = {f"{out.path}/{rel}" for rel in walk_relpaths(target)}
        extra = on_disk.difference(plan.expected)
        if changed or extra:
            parts = []
            if changed:
                parts.append(f"{len(changed)} changed or missing")
            if extra:
                parts.append(f"{len(extra)} extra")
            return "modified", ", ".join(parts) + " file(s)"
    elif hashed[out.path].md5 != out.md5:
        if hashed[out.path].error and hashed[out.path].error != "missing":
            return "modified", f"unreadable: {hashed[out.path].error}"
        return "modified", ""
    if out.cache:
        lacking = plan.objects & absent
        if lacking:
            return "not_in_cache", f"{len(lacking)} object(s) absent from the local cache"
        if plan.objects & missing_remote:
            return "not_pushed", f"{len(plan.objects & missing_remote)} object(s) not on the remote"
    return "ok", ""
