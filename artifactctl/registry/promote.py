"""``promote`` a candidate to champion behind the statistical gates, and ``rollback``.

promote computes the gates with no lock held, so that pull, push and clean in the
same repository go on meanwhile: it reads the registry and both experiments'
predictions, runs the bootstrap, and only then takes the repository lock to record
the result. Under the lock it checks that nothing the gates read has changed (the
ledger, the two experiments and their outputs, the predictions' md5s, the
candidate's metrics); if something did, it computes the gates again, this time
under the lock, so the result recorded is always that of the inputs as they are.
``--dry-run`` takes no lock at all. Once the gates passed (or were forced), the
change is committed through a crash journal (:mod:`artifactctl.registry.journaled`):
the promotion-test JSON, the ledger event, then the champion copies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_json
from artifactctl.hashing import md5_file
from artifactctl.journal import step as journal_step
from artifactctl.project import Project, git_commit
from artifactctl.registry.experiments import (
    Experiment,
    get_experiment,
    load_experiments,
    read_metrics,
)
from artifactctl.registry.folders import folder_hashes, matches
from artifactctl.registry.journaled import commit
from artifactctl.registry.ledger import RegistryState, id_order, make_event, state_of
from artifactctl.registry.outputs import require_built, verify_experiment

if TYPE_CHECKING:
    from artifactctl.registry.gates import GateResult

TEST_SCHEMA = "artifactctl.promotion_test/1"


@dataclass
class PromoteResult:
    candidate: str
    baseline: str
    baseline_role: str  # champion | baseline | against
    test: dict[str, Any]
    test_path: str | None
    passed: bool
    promoted: bool
    forced: bool
    dry_run: bool
    previous: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_baseline(project: Project, exclude: str) -> str | None:
    """The latest experiment in the baseline phase (other than ``exclude``)."""
    ids = [
        e.id
        for e in load_experiments(project).values()
        if e.phase == "baseline" and e.id != exclude
    ]
    return max(ids, key=id_order) if ids else None


@dataclass(frozen=True)
class _Request:
    exp_id: str
    against: str | None
    force: bool
    reason: str | None
    dry_run: bool


@dataclass
class _Inputs:
    """What the gates read; recording their result needs all of it unchanged."""

    state: RegistryState
    candidate: Experiment
    baseline: Experiment
    role: str
    md5: dict[str, str] = field(default_factory=dict)  # predictions file -> md5 of what was read
    metrics: dict[str, Any] = field(default_factory=dict)  # the candidate's metrics.json

    def same_as(self, other: _Inputs) -> bool:
        return (self.state.head, self.candidate, self.baseline, self.role, self.metrics) == (
            other.state.head,
            other.candidate,
            other.baseline,
            other.role,
            other.metrics,
        ) and all(_md5_or_none(Path(path)) == md5 for path, md5 in self.md5.items())


def promote(
    project: Project,
    exp_id: str,
    *,
    against: str | None = None,
    force: bool = False,
    reason: str | None = None,
    dry_run: bool = False,
) -> PromoteResult:
    """Gate ``exp_id`` against the champion (or ``against``) and promote it on a pass.

    Refusals are UsageError (exit 2); a gate failure returns ``promoted=False``.
    """
    if force and not (reason and reason.strip()):
        raise UsageError(
            "--force needs --reason TEXT: a forced promotion is recorded with it",
            hint=f'`artifactctl promote {exp_id} --force --reason "why it must go out"`',
        )
    request = _Request(exp_id, against, force, reason, dry_run)
    if dry_run:
        return _evaluate(project, request)[2]
    if project.has_journals():
        with project.lock():  # finish an interrupted operation before reading the registry
            pass
    inputs, result, outcome = _evaluate(project, request)  # no lock held: others go on
    with project.lock():
        if not inputs.same_as(_inputs(project, request)):
            # Another command changed what the gates read: compute them again, now that
            # nothing can change any more.
            inputs, result, outcome = _evaluate(project, request)
        _record(project, request, inputs, result, outcome)
    return outcome


def _evaluate(project: Project, request: _Request) -> tuple[_Inputs, GateResult, PromoteResult]:
    """Check the inputs, run the gates, and say what promoting would do (nothing written)."""
    inputs = _inputs(project, request)
    result = _compute(project, inputs)
    return inputs, result, _outcome(project, request, inputs, result)


def _inputs(project: Project, request: _Request) -> _Inputs:
    """The registry and both experiments, checked (every refusal is raised here)."""
    state = state_of(project)
    candidate = _candidate(project, state, request.exp_id)
    base_id, role = _baseline(project, state, request.exp_id, request.against)
    baseline = get_experiment(project, base_id)
    for exp in (candidate, baseline):
        require_built(project, exp)
        verify_experiment(project, exp)
    return _Inputs(state, candidate, baseline, role)


def _compute(project: Project, inputs: _Inputs) -> GateResult:
    """Read both predictions and run the gates (records what was read in ``inputs``)."""
    from artifactctl.registry.gates import evaluate_gates, read_predictions

    reg = project.registry
    columns = (reg.row_id, reg.actual, reg.predicted)
    c_pred = read_predictions(inputs.candidate.predictions_file(project), columns)
    b_pred = read_predictions(inputs.baseline.predictions_file(project), columns)
    inputs.md5 = {p.source: p.md5 for p in (c_pred, b_pred) if p.md5}
    inputs.metrics = read_metrics(inputs.candidate.metrics_file(project))
    journal_step("promote-gates-computing")  # inputs read; the bootstrap is next
    return evaluate_gates(c_pred, b_pred, project.settings.promotion, inputs.metrics)


def _md5_or_none(path: Path) -> str | None:
    try:
        return md5_file(path)
    except OSError:
        return None


def _outcome(
    project: Project, request: _Request, inputs: _Inputs, result: GateResult
) -> PromoteResult:
    """The promotion test document and the result, before anything is written."""
    state, exp_id, base_id = inputs.state, request.exp_id, inputs.baseline.id
    promote_it = (result.passed or request.force) and not request.dry_run
    forced = promote_it and not result.passed
    test = _test_document(result, exp_id, base_id, inputs.role, promote_it, forced, request.reason)
    test["git_commit"] = git_commit(project.root)
    if inputs.role == "champion" and state.current is not None:
        # The gates read the champion experiment's predictions.csv; say whether its model
        # folder still holds the promoted files (a `dvc repro` since may have retrained it).
        test["baseline_is_champion_copy"] = matches(
            inputs.baseline.model_dir(project), state.current.files
        )
    return PromoteResult(
        candidate=exp_id,
        baseline=base_id,
        baseline_role=inputs.role,
        test=test,
        test_path=None
        if request.dry_run
        else project.rel(project.artifacts / _test_rel(project, exp_id, base_id)),
        passed=result.passed,
        promoted=promote_it,
        forced=forced,
        dry_run=request.dry_run,
        previous=state.current.id if (promote_it and state.current) else None,
    )


def _record(
    project: Project,
    request: _Request,
    inputs: _Inputs,
    result: GateResult,
    outcome: PromoteResult,
) -> None:
    """Write the promotion test; on a promotion, commit it with the ledger event."""
    rel_test = _test_rel(project, request.exp_id, inputs.baseline.id)
    if not outcome.promoted:
        atomic_write_json(project.artifacts / rel_test, outcome.test)
        return
    journal_step("promote-gates")  # gates passed; nothing written yet
    state, candidate = inputs.state, inputs.candidate
    event = make_event(
        "promote",
        candidate.id,
        phase=candidate.phase,
        files=folder_hashes(candidate.model_dir(project)),
        against=inputs.baseline.id,
        replaced=state.current.id if state.current else None,
        forced=outcome.forced,
        reason=request.reason,
        test=project.rel(project.artifacts / rel_test),
        gates=_gates_summary(result),
    )
    commit(project, {"kind": "promote", "event": event, "test": [rel_test, outcome.test]})


def _test_rel(project: Project, exp_id: str, base_id: str) -> str:
    folder = project.promotion_tests_dir.relative_to(project.artifacts).as_posix()
    return f"{folder}/{exp_id}_vs_{base_id}.json"


def _candidate(project: Project, state: RegistryState, exp_id: str) -> Experiment:
    if exp_id in state.archived:
        raise UsageError(
            f"experiment {exp_id} is archived", hint=f"`artifactctl unarchive {exp_id}` first"
        )
    candidate = get_experiment(project, exp_id)
    if state.current is not None and state.current.id == exp_id:
        raise UsageError(
            f"experiment {exp_id} is already the champion",
            hint="nothing to do: `artifactctl list` shows the champion; promote another ID",
        )
    return candidate


def _baseline(
    project: Project, state: RegistryState, exp_id: str, against: str | None
) -> tuple[str, str]:
    """(baseline ID, its role): ``against``, else the champion, else the latest baseline."""
    if against is not None:
        base_id, role = against, "against"
    elif state.current is not None:
        base_id, role = state.current.id, "champion"
    else:
        base_id, role = default_baseline(project, exp_id), "baseline"
    if base_id is None:
        raise UsageError(
            "there is no champion and no other baseline experiment to compare with",
            hint="pass --against ID",
        )
    if base_id == exp_id:
        raise UsageError("an experiment cannot be tested against itself")
    return base_id, role


def _test_document(
    result: GateResult,
    exp_id: str,
    base_id: str,
    role: str,
    promoted: bool,
    forced: bool,
    reason: str | None,
) -> dict[str, Any]:
    """The promotion test JSON (``experiments/promotion_tests/<candidate>_vs_<baseline>``)."""
    test = {
        "schema": TEST_SCHEMA,
        "candidate": exp_id,
        "baseline": base_id,
        "baseline_role": role,
        **{k: v for k, v in result.to_dict().items() if k not in ("ci_low", "ci_high")},
        "ci": {"level": result.ci_level, "low": result.ci_low, "high": result.ci_high},
        "promoted": promoted,
        "forced": forced,
        "reason": reason,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    test.pop("ci_level", None)
    return test


def _gates_summary(result: GateResult) -> str:
    failed = [g.name for g in result.gates if not g.passed]
    head = f"{result.metric} {result.baseline_value:.4g}->{result.candidate_value:.4g}"
    head += f" p={result.p_value:.3g}"
    return head + (" passed" if not failed else f" failed: {', '.join(failed)}")


# ---------------------------------------------------------------------- rollback


@dataclass
class RollbackResult:
    from_id: str
    to_id: str
    previous: str | None  # the champion_previous after the rollback

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_id, "to": self.to_id, "previous": self.previous}


def rollback(project: Project, reason: str | None = None) -> RollbackResult:
    with project.lock():
        state = state_of(project)
        if state.current is None:
            raise UsageError("there is no champion to roll back", hint="see `artifactctl history`")
        if state.previous is None:
            raise UsageError(
                f"champion {state.current.id} has no previous champion to roll back to",
                hint="see `artifactctl history`",
            )
        event = make_event(
            "rollback",
            state.previous.id,
            **{"from": state.current.id, "to": state.previous.id, "reason": reason},
        )
        commit(project, {"kind": "rollback", "event": event})
        after = state_of(project)
        return RollbackResult(
            state.current.id, state.previous.id, after.previous.id if after.previous else None
        )
