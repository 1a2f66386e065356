"""`artifactctl run` and `refresh`: the pipeline in test mode or production mode.

Test mode runs dvc.yaml's stages itself, in DAG order, each as a subprocess
with ARTIFACTCTL_MODE=test and ARTIFACTCTL_TEST_NAME set, so the stages'
``artifactctl.context()`` routes every write under ``artifacts/tests/<name>/``.
DVC is not involved: dvc.lock, params.yaml and production stay byte-identical.

Production mode is ``dvc repro`` (through dvcrepo), with the overwrite policy
decided from DVC's own plan before any stage runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.dvc.tracked import _TEMPLATE, _expand, _lookup, load_dvc_yaml
from artifactctl.errors import CheckFailed, UsageError
from artifactctl.fs.atomic import atomic_write_json
from artifactctl.journal import Journal
from artifactctl.overrides import apply_overrides
from artifactctl.project import Project, git_commit
from artifactctl.runs import policy
from artifactctl.runs.context import Context


@dataclass(frozen=True)
class Stage:
    """A dvc.yaml stage (a foreach instance resolved) as a test run executes it."""

    name: str  # "train@v2-006"
    key: str | None  # the foreach key (an experiment ID for train/evaluate)
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]  # outs, metrics and plots, repository-relative


@dataclass
class StageResult:
    stage: str
    experiment: str | None
    status: str  # ran | unchanged | failed | skipped
    seconds: float = 0.0
    outputs: int = 0  # files written under the stage's (routed) outputs
    metric: float | None = None  # the promotion metric, for evaluate-like stages
    log: str | None = None  # repository-relative


@dataclass
class RunReport:
    mode: str
    name: str | None  # the test name (test mode)
    path: str  # where the outputs went, repository-relative
    experiments: list[str]
    stages: list[StageResult] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    replaced: list[dict[str, Any]] = field(default_factory=list)  # forced production replacements
    refused: list[dict[str, Any]] = field(default_factory=list)  # what --force would replace
    metric: str = "rmse"
    status: str = "ok"  # ok | failed | refused
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, StageResult | None], None]  # (stage, None) on start, result on end


def _noop(stage: str, result: StageResult | None) -> None:
    pass


# --- planning: dvc.yaml -> stages in DAG order ---


def _resolve(text: str, key: str | None, item: Any, params: dict[str, Any]) -> str:
    def repl(match: Any) -> str:
        expr = match.group(0)[2:-1].strip()
        if expr == "key" and key is not None:
            return key
        if expr == "item" and item is not None and not isinstance(item, dict):
            return str(item)
        if expr.startswith("item.") and isinstance(item, dict):
            value = _lookup(item, expr[5:])
        else:
            value = _lookup(params, expr)
        if value is None or isinstance(value, dict | list):
            raise UsageError(f"dvc.yaml: cannot resolve ${{{expr}}} for a test run")
        return str(value)

    return _TEMPLATE.sub(repl, text)


def _paths(section: Any) -> list[str]:
    out = []
    for entry in section or []:
        out.append(str(next(iter(entry)) if isinstance(entry, dict) else entry))
    return out


def load_stages(root: Path, params: dict[str, Any]) -> list[Stage]:
    """dvc.yaml's stages, foreach instances expanded with ``params``, in DAG order."""
    spec = load_dvc_yaml(root) or {}
    stages: list[Stage] = []
    for name, body in (spec.get("stages") or {}).items():
        for key, item in _expand(name, body, params):
            raw = item.get("cmd")
            cmds = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(c, str) and c for c in cmds):
                raise UsageError(f"dvc.yaml: stage {name!r} has no command")
            value = item.get("_item")
            wdir = item.get("wdir")
            if wdir not in (None, "."):
                raise UsageError(
                    f"dvc.yaml: stage {name!r} uses wdir, which test runs do not support"
                )

            def res(text: str, key: str | None = key, value: Any = value) -> str:
                return _resolve(text, key, value, params)

            outs = [
                res(p)
                for section in ("outs", "metrics", "plots")
                for p in _paths(item.get(section))
            ]
            stages.append(
                Stage(
                    name=name if key is None else f"{name}@{key}",
                    key=key,
                    cmd=" && ".join(res(c) for c in cmds),
                    deps=tuple(res(p) for p in _paths(item.get("deps"))),
                    outs=tuple(outs),
                )
            )
    return _toposort(stages)


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def upstream_of(stage: Stage, stages: list[Stage]) -> list[Stage]:
    return [
        other
        for other in stages
        if other is not stage and any(_overlaps(d, o) for d in stage.deps for o in other.outs)
    ]


def _toposort(stages: list[Stage]) -> list[Stage]:
    """Dependencies first; otherwise dvc.yaml's order."""
    ordered: list[Stage] = []
    state: dict[str, int] = {}

    def visit(stage: Stage, chain: tuple[str, ...]) -> None:
        if state.get(stage.name) == 2:
            return
        if state.get(stage.name) == 1:
            raise UsageError(f"dvc.yaml: cycle through {' -> '.join((*chain, stage.name))}")
        state[stage.name] = 1
        for up in upstream_of(stage, stages):
            visit(up, (*chain, stage.name))
        state[stage.name] = 2
        ordered.append(stage)

    for stage in stages:
        visit(stage, ())
    return ordered


def select(stages: list[Stage], experiments: list[str]) -> list[Stage]:
    """The experiments' stages (foreach key = ID) and everything upstream of them."""
    if not experiments:
        return stages
    wanted = {s.name for s in stages if s.key in experiments}
    for exp in experiments:
        if not any(s.key == exp for s in stages):
            raise UsageError(f"experiment {exp!r} has no stage in dvc.yaml")
    changed = True
    while changed:
        changed = False
        for stage in stages:
            if stage.name in wanted:
                for up in upstream_of(stage, stages):
                    if up.name not in wanted:
                        wanted.add(up.name)
                        changed = True
    return [s for s in stages if s.name in wanted]


def check_experiments(project: Project, experiments: list[str]) -> list[str]:
    from artifactctl.registry.experiments import load_experiments

    for exp in experiments:
        layout.validate_name(exp, "experiment ID")
    known = load_experiments(project)
    for exp in experiments:
        if exp not in known:
            raise UsageError(
                f"unknown experiment {exp!r} (declared: {', '.join(sorted(known)) or 'none'})"
            )
    return list(dict.fromkeys(experiments))


# --- test mode ---


def run_test(
    project: Project,
    *,
    name: str | None = None,
    experiments: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    command: str | None = None,
    progress: Progress = _noop,
) -> RunReport:
    """Run the selected stages with every write routed to ``artifacts/tests/<name>/``."""
    from artifactctl.dvc.yamlio import load_yaml

    name = layout.validate_name(layout.new_test_name() if name is None else name, "test name")
    experiments = check_experiments(project, experiments or [])
    overrides = overrides or {}
    params = apply_overrides(load_yaml(project.root / "params.yaml") or {}, overrides)
    stages = select(load_stages(project.root, params), experiments)
    ctx = Context(project, "test", name, overrides)
    base = ctx.base
    metric = project.settings.promotion.metric
    report = RunReport(
        mode="test",
        name=name,
        path=project.rel(base),
        experiments=experiments,
        overrides=overrides,
        metric=metric,
    )
    _fresh_run_folder(project, base)
    manifest = {
        "schema": layout.RUN_SCHEMA,
        "name": name,
        "mode": "test",
        "created": policy.now_iso(),
        "git_commit": git_commit(project.root),
        "command": command or policy.command_line(),
        "params": params,
        "overrides": overrides,
        "experiments": experiments,
        "stages": [s.name for s in stages],
        "status": "running",
        "files": {},
    }
    atomic_write_json(base / layout.RUN_MANIFEST, manifest)

    from artifactctl.registry.experiments import load_experiments

    registered = set(load_experiments(project))
    guard = _ProductionGuard(project, stages)
    env = _stage_env(name, overrides)
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    failure: CheckFailed | None = None
    for stage in stages:
        exp = stage.key if stage.key in registered else None
        result = StageResult(stage.name, exp, "ran")
        progress(stage.name, None)
        log = logs / f"{stage.name}.log"
        began = time.monotonic()
        with open(log, "wb") as fh:
            proc = subprocess.run(
                stage.cmd,
                shell=True,
                cwd=project.root,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        result.seconds = time.monotonic() - began
        result.log = project.rel(log)
        routed = [
            ctx.path(_under_artifacts(project, o)) for o in stage.outs if _routable(project, o)
        ]
        result.outputs = sum(_count_files(p) for p in routed)
        result.metric = _metric(routed, metric)
        touched = guard.changed()
        if proc.returncode != 0:
            result.status = "failed"
            from artifactctl.dvc.repo import StageFailed

            failure = StageFailed(stage.name, f"exited with {proc.returncode}", log)
        elif touched:
            result.status = "failed"
            failure = CheckFailed(
                f"stage {stage.name!r} wrote production files in a test run: {', '.join(touched)}",
                "its code must take paths from artifactctl.context() (ctx.path); "
                "restore the files with `dvc checkout`",
            )
        report.stages.append(result)
        progress(stage.name, result)
        if failure is not None:
            break
    for stage in stages[len(report.stages) :]:
        report.stages.append(StageResult(stage.name, None, "skipped"))

    manifest["status"] = "failed" if failure else "ok"
    manifest["files"] = _file_manifest(base)
    atomic_write_json(base / layout.RUN_MANIFEST, manifest)
    if failure is not None:
        report.status, report.error = "failed", str(failure).splitlines()[0]
        failure.report = report  # type: ignore[attr-defined]
        raise failure
    return report


def _stage_env(name: str, overrides: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", layout.ENV_FORCE)}
    env[layout.ENV_MODE] = "test"
    env[layout.ENV_TEST_NAME] = name
    env[layout.ENV_OVERRIDES] = json.dumps(overrides)
    # Stages say `python ...`: use the interpreter artifactctl runs in, as a venv would.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _fresh_run_folder(project: Project, base: Path) -> None:
    """A test run with an existing name overwrites it (test runs are disposable)."""
    tests = project.artifacts / layout.TESTS
    if tests.is_symlink():
        raise UsageError(f"{project.rel(tests)} is a symlink; test runs stay in the repository")
    tests.mkdir(parents=True, exist_ok=True)
    if base.is_symlink():
        raise UsageError(f"{project.rel(base)} is a symlink; refusing to write through it")
    if base.exists():
        kept = (base / layout.KEEP_MARKER).exists()
        shutil.rmtree(base)
        base.mkdir()
        if kept:
            (base / layout.KEEP_MARKER).touch()
    else:
        base.mkdir()


def _routable(project: Project, out: str) -> bool:
    root = project.settings.artifacts_root.strip("/")
    return out.startswith(root + "/")


def _under_artifacts(project: Project, out: str) -> str:
    return out[len(project.settings.artifacts_root.strip("/")) + 1 :]


def _count_files(path: Path) -> int:
    if path.is_file():
        return 1
    from artifactctl.hashing import walk_files

    return len(walk_files(path)) if path.is_dir() else 0


def _metric(paths: list[Path], metric: str) -> float | None:
    for path in paths:
        if path.name == "metrics.json" and path.is_file():
            try:
                value = json.loads(path.read_text()).get(metric)
            except (ValueError, AttributeError):
                return None
            return float(value) if isinstance(value, int | float) else None
    return None


def _file_manifest(base: Path) -> dict[str, dict[str, Any]]:
    from artifactctl.hashing import sha256_file, walk_files

    files = {}
    for path in sorted(walk_files(base)):
        rel = path.relative_to(base).as_posix()
        if rel in (layout.RUN_MANIFEST, layout.KEEP_MARKER):
            continue
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return files


class _ProductionGuard:
    """Notices a stage that writes production files during a test run (stat-level)."""

    def __init__(self, project: Project, stages: list[Stage]) -> None:
        from artifactctl.hashing import walk_files

        self.project = project
        paths = {"dvc.lock", "params.yaml", "dvc.yaml"}
        for stage in stages:
            paths.update(stage.outs)
        self.files: list[Path] = []
        self.roots = sorted(paths)
        for rel in self.roots:
            target = project.root / rel
            self.files.extend(walk_files(target) if target.is_dir() else [target])
        self.before = self._stat()

    def _stat(self) -> dict[str, tuple[int, int, int] | None]:
        from artifactctl.hashing import walk_files

        out: dict[str, tuple[int, int, int] | None] = {}
        for rel in self.roots:
            target = self.project.root / rel
            files = walk_files(target) if target.is_dir() else [target]
            for f in files:
                try:
                    st = f.stat()
                    out[self.project.rel(f)] = (st.st_size, st.st_mtime_ns, st.st_ino)
                except FileNotFoundError:
                    out[self.project.rel(f)] = None
        return out

    def changed(self) -> list[str]:
        after = self._stat()
        keys = set(self.before) | set(after)
        return sorted(k for k in keys if self.before.get(k) != after.get(k))


# --- production mode ---


def run_production(
    project: Project,
    *,
    experiments: list[str] | None = None,
    force: bool = False,
    refresh: bool = False,
    command: str | None = None,
    progress: Progress = _noop,
) -> RunReport:
    """``dvc repro`` (``--force`` when ``refresh``) for the selection, under the policy.

    Before DVC runs anything: every stage DVC would run and every existing
    output of it that belongs to a registered experiment is found; without
    ``force`` that is OverwriteRefused (exit 1) and nothing runs. With
    ``force`` each such replacement is appended to the overwrite log.
    """
    from artifactctl.dvc import repo as dvcrepo
    from artifactctl.registry.experiments import load_experiments

    experiments = check_experiments(project, experiments or [])
    registered = set(load_experiments(project))
    targets = _targets(project, experiments) if experiments else None
    metric = project.settings.promotion.metric
    report = RunReport(
        mode="production",
        name=None,
        path=project.rel(project.artifacts),
        experiments=experiments,
        metric=metric,
    )
    command = command or policy.command_line()
    at_risk: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    planned: dict[str, dvcrepo.ReproStep] = {}
    journal: list[Journal] = []

    def approve(plan: list[dvcrepo.ReproStep]) -> None:
        refused = []
        for step in plan:
            planned[step.name] = step
            if not step.would_run:
                continue
            for out in step.outs:
                if out in step.persist:
                    continue  # DVC keeps it and the stage decides (the curated reference)
                path = project.root / out
                decision = policy.decide(project, path, "production", force, registered)
                if decision.action == policy.REFUSE:
                    refused.append((step, out))
                elif decision.action == policy.REPLACE:
                    md5, sha = policy.content_hashes(path)
                    at_risk[out] = (step.name, decision.experiment, md5, sha)
        if at_risk and not refused:
            # Durable before DVC deletes anything: a crash still gets recorded.
            journal.append(
                Journal.begin(
                    project,
                    "production-run",
                    {
                        "pid": os.getpid(),
                        "command": command,
                        "who": policy.who(),
                        "when": policy.now_iso(),
                        "at_risk": {k: list(v) for k, v in at_risk.items()},
                    },
                )
            )
        if refused:
            report.status = "refused"
            report.refused = [
                {"path": out, "stage": step.name, "reason": step.reason} for step, out in refused
            ]
            shown = ", ".join(out for _, out in refused[:4])
            more = f" and {len(refused) - 4} more" if len(refused) > 4 else ""
            stages = ", ".join(dict.fromkeys(f"{s.name} ({s.reason})" for s, _ in refused))
            raise policy.OverwriteRefused(
                f"production run would replace {len(refused)} existing artifact(s) of "
                f"registered experiments: {shown}{more}; stages that would run: {stages}"
            )

    results: dict[str, StageResult] = {}

    def on_start(name: str) -> None:
        progress(name, None)

    def on_end(run: dvcrepo.StageRun) -> None:
        step = planned.get(run.name)
        outs = [project.root / o for o in step.outs] if step else []
        result = StageResult(
            stage=run.name,
            experiment=_stage_key(run.name) if _stage_key(run.name) in registered else None,
            status="failed" if run.error else ("ran" if run.ran else "unchanged"),
            seconds=run.seconds,
            outputs=sum(_count_files(p) for p in outs) if run.ran else 0,
            metric=_metric(outs, metric),
            log=project.rel(run.log),
        )
        results[run.name] = result
        report.stages.append(result)
        progress(run.name, result)

    log_dir = project.state_dir / "repro" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        with project.lock():
            dvcrepo.reproduce(
                project.root,
                targets,
                force=refresh,
                approve=approve,
                log_dir=log_dir,
                on_start=on_start,
                on_end=on_end,
            )
    except CheckFailed as exc:
        if not isinstance(exc, policy.OverwriteRefused):
            report.status, report.error = "failed", str(exc).splitlines()[0]
        exc.report = report  # type: ignore[attr-defined]
        raise
    finally:
        report.replaced = _record(project, at_risk, results, command)
        for entry in journal:
            with contextlib.suppress(FileNotFoundError):
                entry.finish()
    return report


def _stage_key(name: str) -> str | None:
    return name.rsplit("@", 1)[1] if "@" in name else None


def _targets(project: Project, experiments: list[str]) -> list[str]:
    """DVC addresses of the experiments' stages (foreach key = ID); DVC adds upstream."""
    from artifactctl.dvc.yamlio import load_yaml

    params = load_yaml(project.root / "params.yaml") or {}
    stages = load_stages(project.root, params)
    targets = [s.name for s in stages if s.key in experiments]
    missing = [e for e in experiments if not any(s.key == e for s in stages)]
    if missing:
        raise UsageError(f"experiment {missing[0]!r} has no stage in dvc.yaml")
    return targets


def _record(
    project: Project,
    at_risk: dict[str, tuple[str, str | None, str | None, str | None]],
    results: dict[str, StageResult],
    command: str,
) -> list[dict[str, Any]]:
    """Log each at-risk artifact whose stage actually ran (also when it then failed)."""
    records = []
    when, by = policy.now_iso(), policy.who() if at_risk else ""
    for out, (stage, exp, md5_before, sha_before) in sorted(at_risk.items()):
        result = results.get(stage)
        if result is None or result.status == "unchanged":
            continue
        md5_after, sha_after = policy.content_hashes(project.root / out)
        records.append(
            policy.OverwriteRecord(
                when=when,
                who=by,
                command=command,
                stage=stage,
                experiment=exp,
                path=out,
                md5_before=md5_before,
                md5_after=md5_after,
                sha256_before=sha_before,
                sha256_after=sha_after,
            )
        )
    policy.append_records(project, records)
    return [r.to_dict() for r in records]


def recover_production_run(project: Project, journal: Journal) -> str:
    """A forced production run died mid-way: record what it had replaced by then.

    Called with the repository lock held or, at the latest, by the next command;
    a journal whose process is still alive belongs to a live run and is left alone.
    """
    pid = journal.data.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        return f"a production run (pid {pid}) is still in progress; it logs its own replacements"
    records = []
    for out, (stage, exp, md5_before, sha_before) in sorted(
        journal.data.get("at_risk", {}).items()
    ):
        md5_after, sha_after = policy.content_hashes(project.root / out)
        if md5_after == md5_before:
            continue  # its stage never got to it
        records.append(
            policy.OverwriteRecord(
                when=str(journal.data.get("when")),
                who=str(journal.data.get("who")),
                command=str(journal.data.get("command")),
                stage=stage,
                experiment=exp,
                path=out,
                md5_before=md5_before,
                md5_after=md5_after,
                sha256_before=sha_before,
                sha256_after=sha_after,
                note="interrupted",
            )
        )
    policy.append_records(project, records)
    journal.finish()
    return (
        f"a production run was interrupted; recorded {len(records)} replaced artifact(s) in "
        f"{project.rel(policy.log_path(project))} (restore with `dvc checkout` if needed)"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
