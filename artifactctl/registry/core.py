"""The experiment registry: IDs, champion, promotion, rollback, and where things are.

State lives in three places, each with one job:

* params.yaml ``experiments`` - the active experiments (DVC builds them);
* the ledger (``models/production/ledger.jsonl``) - every registry event, the
  champion stack and the ID high-water mark; appending to it is the commit
  point of promote, rollback, archive and unarchive;
* ``models/production/champion_current|champion_previous`` - copies rebuilt
  from the ledger by :mod:`artifactctl.champion`.

Every state-changing operation runs under the repository lock and a crash
journal (op ``registry``) holding everything needed to finish it; recovery
replays the same idempotent steps. Archive/unarchive live in
:mod:`artifactctl.archive`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.errors import CheckFailed, IntegrityError, UsageError
from artifactctl.fs.atomic import atomic_write_json, read_json
from artifactctl.journal import Journal
from artifactctl.journal import step as journal_step
from artifactctl.project import Project, git_commit
from artifactctl.registry.champion import (
    CURRENT,
    PREVIOUS,
    folder_hashes,
    matches,
    reconcile,
    slot_dir,
)
from artifactctl.registry.experiments import (
    Experiment,
    get_experiment,
    load_experiments,
    read_metrics,
)
from artifactctl.registry.ledger import (
    JOURNAL_OP,
    RegistryState,
    append_event,
    has_event,
    make_event,
    read_events,
    split_id,
    state_of,
)

# The kinds artifactctl/pipeline/train.py MODEL_KINDS builds (a test keeps them equal);
# kept here so that validating --model imports neither pandas nor sklearn.
MODEL_KINDS = ("ridge", "lasso", "gbr", "random_forest")
TEST_SCHEMA = "artifactctl.promotion_test/1"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_KEYS = frozenset({"phase", "model", "desc"})


# --------------------------------------------------------------------------- new


@dataclass
class NewResult:
    id: str
    phase: str
    model: str
    params: dict[str, Any]


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``-S key=value`` pairs; values are YAML scalars (``0.5`` is a number)."""
    import yaml

    out: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise UsageError(f"-S {item!r}: expected key=value with a simple key name")
        if key in RESERVED_KEYS:
            raise UsageError(f"-S {key}=...: use --{key} instead")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list):
            raise UsageError(f"-S {item!r}: the value must be a single number, string or bool")
        out[key] = value
    return out


def next_id(project: Project, state: RegistryState | None = None) -> str:
    """One past the highest ID ever seen: in the ledger, params.yaml or the archive."""
    reg = project.settings.registry
    state = state or state_of(project)
    highest = state.high_water.get(reg.id_prefix, 0)
    seen = list(load_experiments(project))
    archive = project.artifacts / layout.ARCHIVE
    if archive.is_dir():
        seen += [p.name for p in archive.iterdir() if p.is_dir()]
    for exp_id in seen:
        parts = split_id(exp_id)
        if parts and parts[0] == reg.id_prefix:
            highest = max(highest, parts[1])
    return f"{reg.id_prefix}{highest + 1:0{reg.id_width}d}"


def new_experiment(
    project: Project,
    model: str,
    phase: str = "candidates",
    sets: list[str] | None = None,
    desc: str = "",
) -> NewResult:
    from artifactctl.dvc.edit import add_experiment

    if model not in MODEL_KINDS:
        raise UsageError(f"unknown model kind {model!r}; known: {', '.join(MODEL_KINDS)}")
    if phase not in layout.PHASES:
        raise UsageError(f"phase must be one of {', '.join(layout.PHASES)}, got {phase!r}")
    extra = parse_sets(sets or [])
    body: dict[str, Any] = {"phase": phase, "model": model, **extra}
    if desc:
        body["desc"] = desc
    with project.lock():
        exp_id = next_id(project)
        # The ledger records the allocation first: an ID once handed out is never reused.
        append_event(project, make_event("new", exp_id, phase=phase, model=model))
        add_experiment(project.root / "params.yaml", exp_id, body)
    return NewResult(exp_id, phase, model, body)


# ---------------------------------------------------------------- built + verify


def _stage_outs(project: Project, exp_id: str) -> list[Any]:
    from artifactctl.dvc.tracked import tracked_outs

    stages = {f"train@{exp_id}", f"evaluate@{exp_id}"}
    return [o for o in tracked_outs(project.root) if o.stage in stages]


def is_built(project: Project, exp: Experiment, recorded: set[str] | None = None) -> bool:
    """Both stages are in dvc.lock and the model folder and predictions are present.

    ``recorded``: the stage names dvc.lock records, when the caller already read them.
    """
    if recorded is None:
        recorded = {o.stage for o in _stage_outs(project, exp.id) if o.stage}
    return (
        {f"train@{exp.id}", f"evaluate@{exp.id}"} <= recorded
        and exp.model_dir(project).is_dir()
        and (exp.experiment_dir(project) / "predictions.csv").is_file()
    )


def require_built(project: Project, exp: Experiment) -> None:
    if not is_built(project, exp):
        raise UsageError(
            f"experiment {exp.id} is not built (no model or predictions recorded in dvc.lock)",
            hint=f"run `dvc repro evaluate@{exp.id}` (or `artifactctl pull`) first",
        )


def file_states(project: Project, exp: Experiment) -> list[Any]:
    """status of the experiment's DVC outputs (model folder, predictions, metrics, ...)."""
    from artifactctl.status import collect_status

    paths = [str(p) for p in (exp.model_dir(project), exp.experiment_dir(project)) if p.exists()]
    if not paths or not _stage_outs(project, exp.id):
        return []
    try:
        return collect_status(project, paths).artifacts
    except UsageError:
        return []


def verify_experiment(project: Project, exp: Experiment) -> None:
    """IntegrityError (refused with exit 2) unless every output matches dvc.lock."""
    bad = []
    for a in file_states(project, exp):
        if a.state in ("missing", "modified") or (
            a.state == "not_in_cache" and "manifest" in a.detail
        ):
            bad.append(f"{a.path} ({a.state}{': ' + a.detail if a.detail else ''})")
    if bad:
        raise _Refused(
            f"experiment {exp.id} fails checksum verification against dvc.lock: " + "; ".join(bad),
            hint=f"restore it with `dvc checkout` or rebuild it with `dvc repro evaluate@{exp.id}`",
        )


class _Refused(IntegrityError):
    """A promotion refused for integrity reasons: bad input for promote (exit 2)."""

    exit_code = 2


# ----------------------------------------------------------------------- promote


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
    return max(ids, key=_id_order) if ids else None


def _id_order(exp_id: str) -> tuple[str, int, str]:
    parts = split_id(exp_id)
    return (parts[0], parts[1], exp_id) if parts else (exp_id, -1, exp_id)


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
        if exp_id in state.archived:
            raise UsageError(
                f"experiment {exp_id} is archived", hint=f"`artifactctl unarchive {exp_id}` first"
            )
        candidate = get_experiment(project, exp_id)
        if state.current is not None and state.current.id == exp_id:
            raise UsageError(f"experiment {exp_id} is already the champion")
        role = "against"
        base_id = against
        if base_id is None and state.current is not None:
            base_id, role = state.current.id, "champion"
        elif base_id is None:
            base_id, role = default_baseline(project, exp_id), "baseline"
        if base_id is None:
            raise UsageError(
                "there is no champion and no other baseline experiment to compare with",
                hint="pass --against ID",
            )
        if base_id == exp_id:
            raise UsageError("an experiment cannot be tested against itself")
        baseline = get_experiment(project, base_id)
        for exp in (candidate, baseline):
            require_built(project, exp)
            verify_experiment(project, exp)
        from artifactctl.registry.gates import evaluate_gates, read_predictions

        c_pred = read_predictions(candidate.experiment_dir(project) / "predictions.csv")
        b_pred = read_predictions(baseline.experiment_dir(project) / "predictions.csv")
        metrics = read_metrics(candidate.experiment_dir(project))
        result = evaluate_gates(c_pred, b_pred, project.settings.promotion, metrics)
        passed = result.passed
        promote_it = (passed or force) and not dry_run
        forced = promote_it and not passed
        test = {
            "schema": TEST_SCHEMA,
            "candidate": exp_id,
            "baseline": base_id,
            "baseline_role": role,
            **{k: v for k, v in result.to_dict().items() if k not in ("ci_low", "ci_high")},
            "ci": {"level": result.ci_level, "low": result.ci_low, "high": result.ci_high},
            "promoted": promote_it,
            "forced": forced,
            "reason": reason,
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": git_commit(project.root),
        }
        test.pop("ci_level", None)
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
            passed=passed,
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
        files = folder_hashes(candidate.model_dir(project))
        event = make_event(
            "promote",
            exp_id,
            phase=candidate.phase,
            files=files,
            against=base_id,
            replaced=state.current.id if state.current else None,
            forced=forced,
            reason=reason,
            test=project.rel(test_path),
            gates=_gates_summary(result),
        )
        journal = Journal.begin(
            project, JOURNAL_OP, {"kind": "promote", "event": event, "test": [rel_test, test]}
        )
        journal.step("promote-journal")
        _apply(project, journal.data)
        journal.finish()
        return outcome


def _gates_summary(result: Any) -> str:
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
        journal = Journal.begin(project, JOURNAL_OP, {"kind": "rollback", "event": event})
        journal.step("rollback-journal")
        _apply(project, journal.data)
        journal.finish()
        after = state_of(project)
        return RollbackResult(
            state.current.id, state.previous.id, after.previous.id if after.previous else None
        )


# ---------------------------------------------------------- apply and recovery


def _apply(project: Project, data: dict[str, Any]) -> None:
    """The idempotent steps of a journaled operation (the same code runs on recovery)."""
    kind = data["kind"]
    if kind in ("archive", "unarchive"):
        from artifactctl.registry.archive import apply_archive, apply_unarchive

        (apply_archive if kind == "archive" else apply_unarchive)(project, data)
        return
    if kind == "promote" and data.get("test"):
        rel, doc = data["test"]
        atomic_write_json(project.artifacts / rel, doc)
    append_event(project, data["event"])
    journal_step(f"{kind}-ledger")
    reconcile(project, state_of(project))


def recover(project: Project, journal: Journal) -> str:
    """Finish an interrupted promote/rollback/archive/unarchive (journal op ``registry``).

    Called by ``Project.lock()`` with the repository lock already held, so no
    other artifactctl process can be working on this journal.
    """
    if not (journal.path / "intent.json").exists():
        return ""  # the operation that owned it finished meanwhile
    data = journal.data
    was_committed = has_event(project, data["event"]["event_id"])
    try:
        _apply(project, data)
    except IntegrityError as exc:
        if not has_event(project, data["event"]["event_id"]):
            raise
        # Committed; only the champion copies could not be rebuilt. Do not block
        # every command on it: `where champion` / load_champion rebuild them later.
        journal.finish()
        return (
            f"completed the interrupted {data['kind']} of {data['event']['id']}, "
            f"but {exc} ({exc.hint})"
        )
    journal.finish()
    event = data["event"]
    verb = "completed" if not was_committed else "finished the files of"
    return f"{verb} the interrupted {data['kind']} of {event['id']}"


# ------------------------------------------------------------------------- where


def where(project: Project, what: str) -> Path:
    """champion | previous | ID -> the one folder a script wants."""
    if what in ("champion", "previous"):
        state = state_of(project)
        champ = state.current if what == "champion" else state.previous
        if champ is None:
            raise UsageError(
                f"there is no {'champion' if what == 'champion' else 'previous champion'}",
                hint="promote one with `artifactctl promote ID`",
            )
        slot = CURRENT if what == "champion" else PREVIOUS
        path = slot_dir(project, slot)
        if not matches(path, champ.files):
            with project.lock():  # a fresh clone, or a hand edit: rebuild from the ledger
                reconcile(project, state_of(project))
        return path
    layout.validate_name(what, "experiment ID")
    archived = project.artifacts / layout.ARCHIVE / what / "model"
    experiments = load_experiments(project)
    if what in experiments:
        path = experiments[what].model_dir(project)
        if not path.is_dir():
            raise UsageError(
                f"experiment {what} has no model folder yet ({project.rel(path)})",
                hint=f"build it with `dvc repro evaluate@{what}` or fetch it with `dvc pull`",
            )
        return path
    if archived.is_dir():
        return archived
    raise UsageError(
        f"unknown experiment {what!r} (declared: {', '.join(sorted(experiments)) or 'none'})"
    )


# ---------------------------------------------------------------- list and show


@dataclass
class ExperimentInfo:
    id: str
    phase: str
    model: str
    state: str  # built | not built | archived
    role: str  # champion | previous | ""
    metrics: dict[str, Any]
    desc: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _role(state: RegistryState, exp_id: str) -> str:
    if state.current and state.current.id == exp_id:
        return "champion"
    if state.previous and state.previous.id == exp_id:
        return "previous"
    return ""


def list_experiments(
    project: Project, phase: str | None = None, sort: str | None = None
) -> list[ExperimentInfo]:
    from artifactctl.dvc.tracked import tracked_outs

    state = state_of(project)
    recorded = {o.stage for o in tracked_outs(project.root) if o.stage}
    rows = []
    for exp in load_experiments(project).values():
        built = is_built(project, exp, recorded)
        rows.append(
            ExperimentInfo(
                id=exp.id,
                phase=exp.phase,
                model=exp.model,
                state="built" if built else "not built",
                role=_role(state, exp.id),
                metrics=read_metrics(exp.experiment_dir(project)),
                desc=exp.desc,
                params=exp.params,
            )
        )
    for record in archived_records(project):
        if any(r.id == record["id"] for r in rows):
            continue
        params = record.get("params") or {}
        rows.append(
            ExperimentInfo(
                id=record["id"],
                phase=str(record.get("phase", "")),
                model=str(params.get("model", "")),
                state="archived",
                role=_role(state, record["id"]),
                metrics=read_metrics(
                    project.artifacts / layout.ARCHIVE / record["id"] / "experiment"
                ),
                desc=str(params.get("desc", "")),
                params=params,
            )
        )
    if phase:
        rows = [r for r in rows if r.phase == phase]
    if sort:
        higher = sort == "r2" or (
            sort == project.settings.promotion.metric
            and project.settings.promotion.direction == "higher"
        )

        def key(r: ExperimentInfo) -> tuple[int, float]:
            v = r.metrics.get(sort)
            if not isinstance(v, int | float):
                return (1, 0.0)
            return (0, -v if higher else v)

        rows.sort(key=key)
    else:
        rows.sort(key=lambda r: _id_order(r.id))
    return rows


def archived_records(project: Project) -> list[dict[str, Any]]:
    root = project.artifacts / layout.ARCHIVE
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        try:
            record = read_json(folder / "archived.json")
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("id") == folder.name:
            found.append(record)
    return found


@dataclass
class ExperimentDetail:
    info: ExperimentInfo
    paths: dict[str, str]
    files: list[dict[str, Any]]
    promotion_tests: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.info),
            "paths": self.paths,
            "files": self.files,
            "promotion_tests": self.promotion_tests,
            "events": self.events,
        }


def show_experiment(project: Project, exp_id: str) -> ExperimentDetail:
    layout.validate_name(exp_id, "experiment ID")
    rows = {r.id: r for r in list_experiments(project)}
    if exp_id not in rows:
        get_experiment(project, exp_id)  # raises the standard unknown-ID error
    info = rows[exp_id]
    if info.state == "archived":
        base = project.artifacts / layout.ARCHIVE / exp_id
        paths = {
            "model": project.rel(base / "model"),
            "experiment": project.rel(base / "experiment"),
        }
        files = [
            {"path": project.rel(p), "size": p.stat().st_size, "state": "archived"}
            for p in sorted((base).rglob("*"))
            if p.is_file()
        ]
    else:
        exp = load_experiments(project)[exp_id]
        paths = {
            "model": project.rel(exp.model_dir(project)),
            "experiment": project.rel(exp.experiment_dir(project)),
        }
        files = [
            {
                "path": a.path + ("/" if a.is_dir else ""),
                "size": a.size,
                "files": a.files,
                "state": a.state,
                "detail": a.detail,
            }
            for a in file_states(project, exp)
        ]
    tests = []
    folder = project.artifacts / layout.PROMOTION_TESTS
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                doc = read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and exp_id in (doc.get("candidate"), doc.get("baseline")):
                tests.append(
                    {
                        "path": project.rel(path),
                        "candidate": doc.get("candidate"),
                        "baseline": doc.get("baseline"),
                        "passed": doc.get("passed"),
                        "promoted": doc.get("promoted"),
                        "p_value": doc.get("p_value"),
                        "timestamp": doc.get("timestamp"),
                    }
                )
    events = [
        e
        for e in read_events(project)
        if exp_id in (e.get("id"), e.get("from"), e.get("to"), e.get("replaced"), e.get("against"))
    ]
    return ExperimentDetail(info, paths, files, tests, events)


def history(project: Project) -> list[dict[str, Any]]:
    return read_events(project)


# ------------------------------------------------------------------ load_champion


@dataclass
class LoadedChampion:
    id: str
    phase: str
    path: Path
    model: Any
    preprocessing: Any
    metadata: dict[str, Any]


def load_champion(which: str = "champion", start: Path | None = None) -> LoadedChampion:
    """The champion's model and preprocessing, each checksum-verified before unpickling.

    ``which`` is "champion" or "previous". Each file is read once into memory,
    its md5 compared with the one the ledger recorded, and only then unpickled,
    so a file changed between the check and the load cannot slip through.
    """
    import hashlib

    from artifactctl.journal import recover as recover_all
    from artifactctl.project import find_repo

    if which not in ("champion", "previous"):
        raise UsageError("which must be 'champion' or 'previous'")
    project = find_repo(start)
    recover_all(project)
    path = where(project, which)
    state = state_of(project)
    champ = state.current if which == "champion" else state.previous
    assert champ is not None  # where() raised otherwise

    def verified(rel: str) -> bytes:
        expected = champ.files.get(rel)
        if expected is None:
            raise CheckFailed(f"champion {champ.id} has no {rel}")
        data = (path / rel).read_bytes()
        if hashlib.md5(data).hexdigest() != expected:
            raise IntegrityError(
                f"{project.rel(path / rel)} does not match the md5 the ledger recorded; "
                "refusing to unpickle it",
                hint="run `artifactctl where champion` to rebuild the copy from the ledger",
            )
        return data

    import joblib

    model = joblib.load(io.BytesIO(verified("model.joblib")))
    prep = joblib.load(io.BytesIO(verified("preprocessing.joblib")))
    metadata = json.loads(verified("metadata.json")) if "metadata.json" in champ.files else {}
    return LoadedChampion(champ.id, champ.phase, path, model, prep, metadata)
