"""``promote`` a candidate to champion behind the statistical gates, and ``rollback``.

Both run under the repository lock; once the gates passed (or were forced), the
change is committed through a crash journal (:mod:`artifactctl.registry.journaled`):
the promotion-test JSON, the ledger event, then the champion copies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_json
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
        raise UsageError("--force needs --reason TEXT: a forced promotion is recorded with it")
    with project.lock():
        state = state_of(project)
        candidate = _candidate(project, state, exp_id)
        base_id, role = _baseline(project, state, exp_id, against)
        baseline = get_experiment(project, base_id)
        for exp in (candidate, baseline):
            require_built(project, exp)
            verify_experiment(project, exp)
        result = _run_gates(project, candidate, baseline)
        promote_it = (result.passed or force) and not dry_run
        forced = promote_it and not result.passed
        test = _test_document(result, exp_id, base_id, role, promote_it, forced, reason)
        test["git_commit"] = git_commit(project.root)
        if role == "champion" and state.current is not None:
            # The gates read the champion experiment's predictions.csv; say whether its model
            # folder still holds the promoted files (a `dvc repro` since may have retrained it).
            test["baseline_is_champion_copy"] = matches(
                baseline.model_dir(project), state.current.files
            )
        rel_test = f"{layout.PROMOTION_TESTS}/{exp_id}_vs_{base_id}.json"
        test_path = project.artifacts / rel_test
        outcome = PromoteResult(
            candidate=exp_id,
            baseline=base_id,
            baseline_role=role,
            test=test,
            test_path=None if dry_run else project.rel(test_path),
            passed=result.passed,
            promoted=promote_it,
            forced=forced,
            dry_run=dry_run,
            previous=state.current.id if (promote_it and state.current) else None,
        )
        if dry_run:
            return outcome
        if not promote_it:
            atomic_write_json(test_path, test)
            return outcome
        journal_step("promote-gates")  # gates passed; nothing written yet
        event = make_event(
            "promote",
            exp_id,
            phase=candidate.phase,
            files=folder_hashes(candidate.model_dir(project)),
            against=base_id,
            replaced=state.current.id if state.current else None,
            forced=forced,
            reason=reason,
            test=project.rel(test_path),
            gates=_gates_summary(result),
        )
        commit(project, {"kind": "promote", "event": event, "test": [rel_test, test]})
        return outcome


def _candidate(project: Project, state: RegistryState, exp_id: str) -> Experiment:
    if exp_id in state.archived:
        raise UsageError(
            f"experiment {exp_id} is archived", hint=f"`artifactctl unarchive {exp_id}` first"
        )
    candidate = get_experiment(project, exp_id)
    if state.current is not None and state.current.id == exp_id:
        raise UsageError(f"experiment {exp_id} is already the champion")
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


def _run_gates(project: Project, candidate: Experiment, baseline: Experiment) -> GateResult:
    from artifactctl.registry.gates import evaluate_gates, read_predictions

    c_pred = read_predictions(candidate.experiment_dir(project) / "predictions.csv")
    b_pred = read_predictions(baseline.experiment_dir(project) / "predictions.csv")
    metrics = read_metrics(candidate.experiment_dir(project))
    return evaluate_gates(c_pred, b_pred, project.settings.promotion, metrics)


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
