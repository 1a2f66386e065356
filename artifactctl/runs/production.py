"""`artifactctl run --mode production` and `refresh`: ``dvc repro`` under the overwrite policy.

The policy is decided from DVC's own plan before any stage runs: every stage DVC
would run, and every existing output of it that belongs to a registered
experiment (persist outputs aside: DVC keeps them). Without ``force`` the run is
refused and nothing runs; the report lists what ``--force`` would replace. With
``force`` every replaced artifact is appended to the overwrite log when the run
ends, also when a stage then failed (invariant 3).

Crash safety: before DVC deletes anything, the artifacts at risk and their hashes
are written to a journal (op "production-run"). If the run dies, the next
command's recovery (``recover_production_run``) records each of them that
changed. The journal's named steps (``ARTIFACTCTL_PAUSE_AT``):

- ``production-run-journal``: the intent is durable; DVC has not run anything.
- ``production-run-stage-ran``: a stage has replaced its outputs; nothing is
  recorded in the overwrite log yet.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from artifactctl.backups import make_backups
from artifactctl.config import Mode
from artifactctl.dvc import repo as dvcrepo
from artifactctl.errors import CheckFailed
from artifactctl.journal import Journal
from artifactctl.project import Project
from artifactctl.runs import policy
from artifactctl.runs.plan import check_experiments, production_targets
from artifactctl.runs.report import (
    REFUSED,
    Progress,
    RunReport,
    StageResult,
    count_files,
    metric_of,
    no_progress,
)

JOURNAL_OP = "production-run"


def run_production(
    project: Project,
    *,
    experiments: list[str] | None = None,
    force: bool = False,
    refresh: bool = False,
    command: str | None = None,
    progress: Progress = no_progress,
) -> RunReport:
    """``dvc repro`` (``--force`` when ``refresh``) for the selection, under the policy.

    A refusal or a failed stage is in the report (``ok`` False, exit code 1);
    forced replacements are in ``report.replaced`` and the overwrite log.
    """
    from artifactctl.registry.experiments import every_experiment

    experiments = check_experiments(project, experiments or [])
    run = _ProductionRun(
        project,
        RunReport(
            mode=Mode.PRODUCTION,
            name=None,
            path=project.rel(project.artifacts),
            experiments=experiments,
            metric=project.settings.promotion.metric,
        ),
        registered=set(every_experiment(project)),
        force=force,
        command=command or policy.command_line(),
        progress=progress,
    )
    targets = production_targets(project, experiments) if experiments else None
    log_dir = project.state_dir / "repro" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        with project.lock():
            dvcrepo.reproduce(
                project.root,
                targets,
                force=refresh,
                approve=run.approve,
                log_dir=log_dir,
                on_start=run.on_start,
                on_end=run.on_end,
            )
    except policy.OverwriteRefused as exc:
        run.report.fail(exc, REFUSED)
    except CheckFailed as exc:  # a stage failed
        run.report.fail(exc)
    finally:
        run.finish()
    return run.report


@dataclass(frozen=True)
class AtRisk:
    """An existing artifact of a registered experiment that a forced run may replace."""

    stage: str
    experiment: str | None
    md5: str | None  # before the run: DVC's hash, and the sha256
    sha256: str | None

    def record(
        self, project: Project, path: str, when: str, who: str, command: str, note: str | None
    ) -> policy.OverwriteRecord:
        """The overwrite record of ``path`` as it is now."""
        md5_after, sha_after = policy.content_hashes(project.root / path)
        return policy.OverwriteRecord(
            when=when,
            who=who,
            command=command,
            stage=self.stage,
            experiment=self.experiment,
            path=path,
            md5_before=self.md5,
            md5_after=md5_after,
            sha256_before=self.sha256,
            sha256_after=sha_after,
            note=note,
        )


@dataclass
class _ProductionRun:
    """One production run: the policy over DVC's plan, and what each stage did."""

    project: Project
    report: RunReport
    registered: set[str]
    force: bool
    command: str
    progress: Progress
    planned: dict[str, dvcrepo.ReproStep] = field(default_factory=dict)
    at_risk: dict[str, AtRisk] = field(default_factory=dict)
    results: dict[str, StageResult] = field(default_factory=dict)
    journal: Journal | None = None

    def approve(self, plan: list[dvcrepo.ReproStep]) -> None:
        """Called by DVC with its plan: raise OverwriteRefused to stop before anything runs."""
        refused = []
        for step in plan:
            self.planned[step.name] = step
            if step.would_run:
                refused += [(step, out) for out in step.outs if not self._allowed(step, out)]
        if refused:
            self.report.refused = [
                {"path": out, "stage": step.name, "reason": step.reason} for step, out in refused
            ]
            raise policy.OverwriteRefused(_refusal(refused))
        self.report.backups = back_up_preserved(self.project, plan)
        if self.at_risk:
            self._begin_journal()

    def _allowed(self, step: dvcrepo.ReproStep, out: str) -> bool:
        """Whether the policy lets ``step`` replace ``out``; notes what force puts at risk."""
        if out in step.persist:
            return True  # DVC keeps it and the stage decides (the curated reference)
        path = self.project.root / out
        decision = policy.decide(self.project, path, Mode.PRODUCTION, self.force, self.registered)
        if decision.action == policy.REPLACE:
            md5, sha = policy.content_hashes(path)
            self.at_risk[out] = AtRisk(step.name, decision.experiment, md5, sha)
        return decision.allowed

    def _begin_journal(self) -> None:
        # Durable before DVC deletes anything: a crash still gets recorded.
        self.journal = Journal.begin(
            self.project,
            JOURNAL_OP,
            {
                "pid": os.getpid(),
                "command": self.command,
                "who": policy.who(),
                "when": policy.now_iso(),
                "at_risk": {
                    out: [r.stage, r.experiment, r.md5, r.sha256] for out, r in self.at_risk.items()
                },
            },
        )
        self.journal.step("production-run-journal")

    def on_start(self, name: str) -> None:
        self.progress(name, None)

    def on_end(self, run: dvcrepo.StageRun) -> None:
        step = self.planned.get(run.name)
        outs = [self.project.root / o for o in step.outs] if step else []
        key = run.name.rsplit("@", 1)[1] if "@" in run.name else None
        result = StageResult(
            stage=run.name,
            experiment=key if key in self.registered else None,
            status="failed" if run.error else ("ran" if run.ran else "unchanged"),
            seconds=run.seconds,
            outputs=count_files(outs) if run.ran else 0,
            metric=metric_of(outs, self.report.metric),
            log=self.project.rel(run.log),
        )
        self.results[run.name] = result
        self.report.stages.append(result)
        self.progress(run.name, result)
        if run.ran and self.journal is not None:
            self.journal.step("production-run-stage-ran")

    def _ran(self, stage: str) -> bool:
        """The stage ran (DVC may have stopped at an earlier failure before reaching it)."""
        result = self.results.get(stage)
        return result is not None and result.status != "unchanged"

    def finish(self) -> None:
        """Log each at-risk artifact whose stage actually ran (also when it then failed).

        An artifact its stage wrote again byte for byte (same md5: a deterministic
        refresh) was not replaced, and is not logged as if it had been.
        """
        when, who = policy.now_iso(), policy.who() if self.at_risk else ""
        ran = [
            risk.record(self.project, out, when, who, self.command, None)
            for out, risk in sorted(self.at_risk.items())
            if self._ran(risk.stage)
        ]
        records = [r for r in ran if r.md5_after != r.md5_before]
        policy.append_records(self.project, records)
        self.report.replaced = [r.to_dict() for r in records]
        if self.journal is not None:
            with contextlib.suppress(FileNotFoundError):
                self.journal.finish()


def back_up_preserved(project: Project, plan: list[dvcrepo.ReproStep]) -> list[dict[str, str]]:
    """Back up every preserved file the stages about to run would destroy: [{path, backup}].

    DVC deletes a stage's outputs before running it, preserve rules or not, so each
    regular file under a preserve rule in those outputs is copied first
    (``backups.make_backups``: .artifactctl/backups/, where pull keeps its backups) unless its
    bytes are exactly DVC's record of it and that object is in the cache. Outputs
    with ``persist: true`` are not deleted by DVC: the stage decides about them.
    """
    rules = project.settings.preserve
    outs = {o for s in plan if s.would_run for o in s.outs if o not in s.persist}
    if not rules or not outs:
        return []
    from artifactctl.dvc.tracked import cache_object, lock_outs
    from artifactctl.hashing import md5_file, walk_relpaths
    from artifactctl.scope import expected_files
    from artifactctl.sync.preserve import is_preserved

    recorded = expected_files(project, [o for o in lock_outs(project.root) if o.path in outs])
    to_copy = []
    for out in sorted(outs):
        top = project.root / out
        rels = [f"{out}/{r}" for r in walk_relpaths(top)] if top.is_dir() else [out]
        for rel in sorted(r for r in rels if is_preserved(r, rules)):
            path = project.root / rel
            if not _regular(path):
                continue
            md5 = recorded.get(rel)
            if md5 and md5 == md5_file(path) and cache_object(project.cache_dir, md5).is_file():
                continue  # DVC's record of it restores these very bytes
            to_copy.append(rel)
    reason = "replaced by a production run"
    made = make_backups(project, [(rel, None, reason) for rel in to_copy])
    return [{"path": rel, "backup": made[rel]} for rel in to_copy]


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _refusal(refused: list[tuple[dvcrepo.ReproStep, str]]) -> str:
    shown = ", ".join(out for _, out in refused[:4])
    more = f" and {len(refused) - 4} more" if len(refused) > 4 else ""
    stages = ", ".join(dict.fromkeys(f"{s.name} ({s.reason})" for s, _ in refused))
    return (
        f"production run would replace {len(refused)} existing artifact(s) of "
        f"registered experiments: {shown}{more}; stages that would run: {stages}"
    )


def recover_production_run(project: Project, journal: Journal) -> str:
    """A forced production run died mid-way: record what it had replaced by then.

    Called with the repository lock held or, at the latest, by the next command;
    a journal whose process is still alive belongs to a live run and is left alone.
    """
    pid = journal.data.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        return f"a production run (pid {pid}) is still in progress; it logs its own replacements"
    data = journal.data
    when, who, command = str(data.get("when")), str(data.get("who")), str(data.get("command"))
    records = []
    for out, entry in sorted(data.get("at_risk", {}).items()):
        record = AtRisk(*entry).record(project, out, when, who, command, "interrupted")
        if record.md5_after != record.md5_before:  # else its stage never got to it
            records.append(record)
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
