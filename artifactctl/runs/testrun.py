"""`artifactctl run` in test mode: the pipeline with every write under artifacts/tests/<name>/.

The stages of dvc.yaml run here, not in DVC, in dependency order, each as a
subprocess with ARTIFACTCTL_MODE=test and ARTIFACTCTL_TEST_NAME set, so that the
stages' ``artifactctl.context()`` routes every write into the run folder. DVC is
not involved: dvc.lock, params.yaml and production stay byte-identical, and a
stage that writes production files anyway stops the run (invariant 2).

The run folder holds ``run.json`` (layout.RUN_MANIFEST): written as "running"
before the first stage, then "ok" or "failed" with the sha256 and size of every
file the run wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.config import Mode
from artifactctl.dvc.stages import Stage
from artifactctl.errors import ArtifactctlError, CheckFailed, UsageError
from artifactctl.fs.atomic import atomic_write_json
from artifactctl.overrides import apply_overrides
from artifactctl.project import Project, git_commit
from artifactctl.runs import policy
from artifactctl.runs.context import Context
from artifactctl.runs.plan import check_experiments, stages_for_test_run
from artifactctl.runs.report import (
    Progress,
    RunReport,
    StageResult,
    count_files,
    metric_of,
    no_progress,
)
from artifactctl.safepath import contained

# The files whose change means a test run touched production, besides the stages' outputs.
PRODUCTION_FILES = ("dvc.lock", "params.yaml", "dvc.yaml")


def run_test(
    project: Project,
    *,
    name: str | None = None,
    experiments: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    command: str | None = None,
    progress: Progress = no_progress,
) -> RunReport:
    """Run the selected stages with every write routed to ``artifacts/tests/<name>/``.

    A stage that fails, or that writes production files, ends the run: the report
    says so (``ok`` False, exit code 1) and lists the stages that did not run.
    """
    from artifactctl.dvc.yamlio import load_yaml
    from artifactctl.registry.experiments import every_experiment

    name = layout.validate_name(layout.new_test_name() if name is None else name, "test name")
    experiments = check_experiments(project, experiments or [])
    overrides = overrides or {}
    params = apply_overrides(load_yaml(project.root / "params.yaml") or {}, overrides)
    # IDs and phases name folders: checked with the -S values too
    every_experiment(project, params, "params.yaml with the -S overrides")
    stages = stages_for_test_run(project, params, experiments)
    _tests_folders_untracked(project)
    ctx = Context(project, Mode.TEST, name, overrides)
    report = RunReport(
        mode=Mode.TEST,
        name=name,
        path=project.rel(ctx.base),
        experiments=experiments,
        overrides=overrides,
        metric=project.settings.promotion.metric,
    )
    # a run folder in every tests folder (a family's own, see Context.path), each with a
    # run.json of its own: clean and verify treat each as a run
    replaced = [_fresh_run_folder(project.with_tests_dir(b.parent), b) for b in ctx.bases]
    report.replaced_run = any(replaced)
    manifest = {
        "schema": layout.RUN_SCHEMA,
        "name": name,
        "mode": Mode.TEST.value,
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
    _write_manifests(ctx, manifest)

    registered = set(every_experiment(project))
    runner = _StageRunner(ctx, report.metric, ProductionGuard.watching(project, stages))
    try:
        for stage in stages:
            progress(stage.name, None)
            result, problem = runner.run(stage)
            result.experiment = stage.key if stage.key in registered else None
            report.stages.append(result)
            progress(stage.name, result)
            if problem is not None:
                report.fail(problem)
                break
    except Exception:
        manifest["status"] = "failed"  # never left "running" by an error
        _write_manifests(ctx, manifest)
        raise
    report.stages += [StageResult(s.name, None, "skipped") for s in stages[len(report.stages) :]]

    manifest["status"] = "ok" if report.ok else "failed"
    _write_manifests(ctx, manifest, final=True)
    report.folders = [project.rel(b) for b in ctx.bases if b.is_dir()]
    return report


def _write_manifests(ctx: Context, manifest: dict[str, Any], final: bool = False) -> None:
    """run.json in each folder of the run, listing the files written there.

    When the run is over, a family's folder the run wrote nothing to is removed (it holds
    only the run.json written before the stages)."""
    for i, base in enumerate(ctx.bases):
        if final and i and not _file_manifest(base):
            shutil.rmtree(base)
            continue
        doc = dict(manifest, files=_file_manifest(base) if final else {})
        atomic_write_json(base / layout.RUN_MANIFEST, doc)


@dataclass
class _StageRunner:
    """Runs one stage of a test run as a subprocess and measures what it wrote."""

    ctx: Context
    metric: str
    guard: ProductionGuard
    env: dict[str, str] = field(init=False)
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        assert self.ctx.test_name is not None
        self.env = _stage_env(self.ctx.test_name, self.ctx.overrides)
        self.logs = self.ctx.base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def run(self, stage: Stage) -> tuple[StageResult, ArtifactctlError | None]:
        """The stage's result, and why the run must stop after it (None: go on)."""
        project = self.ctx.project
        log = self.logs / f"{stage.name}.log"
        began = time.monotonic()
        with open(log, "wb") as fh:
            proc = subprocess.run(
                stage.cmd,
                shell=True,
                cwd=project.root,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        routed = self._routed_outputs(stage)
        result = StageResult(
            stage.name,
            None,
            "ran",
            seconds=time.monotonic() - began,
            outputs=count_files(routed),
            metric=metric_of(routed, self.metric),
            log=project.rel(log),
        )
        problem = self._problem(stage, proc.returncode, log)
        if problem is not None:
            result.status = "failed"
        return result, problem

    def _routed_outputs(self, stage: Stage) -> list[Path]:
        """Where the stage's outputs under the artifacts root went in this run."""
        top = self.ctx.project.settings.artifacts_root.strip("/")
        top = "" if top in ("", ".") else top + "/"
        return [self.ctx.path(out[len(top) :]) for out in stage.out_paths if out.startswith(top)]

    def _problem(self, stage: Stage, returncode: int, log: Path) -> ArtifactctlError | None:
        if returncode != 0:
            from artifactctl.dvc.repo import StageFailed

            return StageFailed(stage.name, f"exited with {returncode}", log)
        touched = self.guard.changed()
        if touched:
            return CheckFailed(
                f"stage {stage.name!r} wrote production files in a test run: {', '.join(touched)}",
                "its code must take paths from artifactctl.context() (ctx.path); "
                "restore the files with `dvc checkout`",
            )
        return None


def _stage_env(name: str, overrides: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_STAGE", layout.ENV_FORCE)}
    env[layout.ENV_MODE] = Mode.TEST.value
    env[layout.ENV_TEST_NAME] = name
    env[layout.ENV_OVERRIDES] = json.dumps(overrides)
    # Stages say `python ...`: use the interpreter artifactctl runs in, as a venv would.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _tests_folders_untracked(project: Project) -> None:
    """No tests folder lies inside a DVC output: `dvc repro` would delete the test copies
    and status would call the output modified."""
    from artifactctl.dvc.tracked import tracked_outs
    from artifactctl.scope import inside

    outs = [o.path for o in tracked_outs(project.root)]
    for tests in project.every_tests_dir():
        rel = project.rel(tests)
        for out in outs:
            if inside(rel, out):
                raise UsageError(
                    f"the tests folder {rel}/ lies inside the DVC output {out}: test runs "
                    "would change a tracked output",
                    hint="set tests_dir (or the registry's tests_dir) to a folder outside "
                    "every DVC output",
                )


def _fresh_run_folder(project: Project, base: Path) -> bool:
    """A test run with an existing name overwrites it (test runs are disposable).

    True when an earlier run of that name was replaced (the report says so).
    """
    tests = project.tests_dir
    # no linked folder on the way: test runs stay in the repository
    contained(project.root, project.rel(base), what="test run", source="run", parents_only=False)
    tests.mkdir(parents=True, exist_ok=True)
    if base.exists() and not stat.S_ISDIR(os.lstat(base).st_mode):
        # a FIFO or device here would make rmtree wait on open() forever
        raise UsageError(
            f"{project.rel(base)} is not a folder; not a test run to replace",
            hint="move it away, or choose another --name",
        )
    if base.exists():
        kept = (base / layout.KEEP_MARKER).exists()
        shutil.rmtree(base)
        base.mkdir()
        if kept:
            (base / layout.KEEP_MARKER).touch()
        return True
    base.mkdir()
    return False


def _file_manifest(base: Path) -> dict[str, dict[str, Any]]:
    """run.json's ``files``: the sha256 and size of everything the run wrote."""
    from artifactctl.hashing import sha256_file, walk_files

    files = {}
    for path in sorted(walk_files(base)):
        rel = path.relative_to(base).as_posix()
        if rel in (layout.RUN_MANIFEST, layout.KEEP_MARKER):
            continue
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return files


Signature = tuple[int, int, int] | None  # (size, mtime_ns, inode); None: absent


@dataclass
class ProductionGuard:
    """Notices a stage that writes production files during a test run (by stat)."""

    project: Project
    roots: list[str]  # repository-relative files and folders to watch
    before: dict[str, Signature] = field(init=False)

    @classmethod
    def watching(cls, project: Project, stages: list[Stage]) -> ProductionGuard:
        """A guard over the stages' production outputs and the pipeline's own files."""
        paths = set(PRODUCTION_FILES)
        for stage in stages:
            paths.update(stage.out_paths)
        return cls(project, sorted(paths))

    def __post_init__(self) -> None:
        self.before = self._stat()

    def _stat(self) -> dict[str, Signature]:
        from artifactctl.hashing import walk_files

        out: dict[str, Signature] = {}
        for rel in self.roots:
            target = self.project.root / rel
            for f in walk_files(target) if target.is_dir() else [target]:
                try:
                    st = f.stat()
                    out[self.project.rel(f)] = (st.st_size, st.st_mtime_ns, st.st_ino)
                except FileNotFoundError:
                    out[self.project.rel(f)] = None
        return out

    def changed(self) -> list[str]:
        """Production files whose signature differs from when the guard was made."""
        after = self._stat()
        keys = set(self.before) | set(after)
        return sorted(k for k in keys if self.before.get(k) != after.get(k))
