"""archive / unarchive: move an experiment out of the active set and back.

``archive ID --reason`` moves ``models/<phase>/<ID>/`` to ``archive/<ID>/model/``
and ``experiments/<ID>/`` to ``archive/<ID>/experiment/``, writes
``archive/<ID>/archived.json`` (its params.yaml entry, its dvc.lock entries, the
md5 of every file), removes the experiment from params.yaml and its
``train@ID``/``evaluate@ID`` entries from dvc.lock (so `dvc repro`, `status` and
`verify` no longer expect it), appends a row to ``archive/MANIFEST.md`` and an
event to the ledger. The moved files are git-ignored; their objects stay in the
DVC cache. ``unarchive ID`` reverses every step.

Both run under the repository lock with a crash journal; their steps are in
:mod:`artifactctl.registry.journaled`, idempotent, and recovery re-runs them, so an
interrupted archive is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.hashing import dir_md5
from artifactctl.project import Project
from artifactctl.registry.experiments import (
    Experiment,
    get_experiment,
    load_experiments,
    read_metrics,
)
from artifactctl.registry.folders import folder_hashes
from artifactctl.registry.journaled import RECORD, archive_root, commit
from artifactctl.registry.ledger import make_event, state_of
from artifactctl.registry.outputs import stages
from artifactctl.registry.restore import restore_archived_folders
from artifactctl.safepath import UntrustedMetadata, checked_id, checked_md5, contained


@dataclass
class ArchiveResult:
    id: str
    action: str  # archived | unarchived
    moved: dict[str, str]  # from -> to (repository-relative)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "moved": self.moved}


def _moves(project: Project, archived: Path, record: dict[str, Any]) -> dict[str, str]:
    """Where each folder was before it was archived -> where it is in the archive (one
    folder that holds both the model and the results moves once, as the model)."""
    moves: dict[str, str] = {}
    for key in ("model", "experiment"):
        moves.setdefault(record["from"][key], project.rel(archived / key))
    return moves


def archive(project: Project, exp_id: str, reason: str) -> ArchiveResult:
    if not reason or not reason.strip():
        raise UsageError(
            "archive needs --reason TEXT (it goes into MANIFEST.md)",
            hint=f'`artifactctl archive {exp_id} --reason "why"`',
        )
    with project.lock():
        exp = get_experiment(project, exp_id)
        _refuse_champions(project, exp_id)
        dest = archive_root(project) / exp_id
        if dest.exists():
            raise UsageError(
                f"{project.rel(dest)} already exists", hint="move it away, or unarchive it first"
            )
        record = _record(project, exp, reason)
        event = make_event(
            "archive", exp_id, reason=reason, phase=exp.phase, from_paths=record["from"]
        )
        record["event_id"] = event["event_id"]
        record["archived"] = event["time"]
        commit(project, {"kind": "archive", "event": event, "record": record})
    return ArchiveResult(exp_id, "archived", _moves(project, dest, record))


def _refuse_champions(project: Project, exp_id: str) -> None:
    state = state_of(project)
    champions = (("the champion", state.current), ("the previous champion", state.previous))
    for label, champ in champions:
        if champ is not None and champ.id == exp_id:
            raise UsageError(
                f"experiment {exp_id} is {label}; it cannot be archived",
                hint="promote another experiment (or roll back) first",
            )


def _record(project: Project, exp: Experiment, reason: str) -> dict[str, Any]:
    """archived.json: all that unarchive needs to put the experiment back as it was."""
    from artifactctl.dvc.edit import (
        experiment_body,
        experiment_text,
        lock_positions,
        lock_stages,
        lock_stages_text,
    )

    exp_id, model_dir, exp_dir = exp.id, exp.model_dir(project), exp.experiment_dir(project)
    params, lock = project.root / "params.yaml", project.root / "dvc.lock"
    names = stages(project, exp_id)
    model_files, exp_files = folder_hashes(model_dir), folder_hashes(exp_dir)
    return {
        "schema": "artifactctl.archived/1",
        "id": exp_id,
        "phase": exp.phase,
        "reason": reason,
        "params": experiment_body(params, exp_id, project.registry.experiments),
        "params_yaml": experiment_text(params, exp_id, project.registry.experiments),
        "dvc_lock": lock_stages(lock, names),
        "dvc_lock_yaml": lock_stages_text(lock, names),
        "dvc_lock_after": lock_positions(lock, names),
        "metrics": read_metrics(exp.metrics_file(project)),
        "from": {"model": project.rel(model_dir), "experiment": project.rel(exp_dir)},
        "files": {"model": model_files, "experiment": exp_files},
        "md5": {
            "model": dir_md5(model_files.items()) if model_files else None,
            "experiment": dir_md5(exp_files.items()) if exp_files else None,
        },
    }


def unarchive(project: Project, exp_id: str) -> ArchiveResult:
    layout.validate_name(exp_id, "experiment ID")
    with project.lock():
        dest = archive_root(project) / exp_id
        try:
            record = read_json(dest / RECORD)
        except (OSError, ValueError):
            raise UsageError(
                f"experiment {exp_id} is not archived (no {project.rel(dest / RECORD)})",
                hint="see `artifactctl list`",
            ) from None
        record = checked_record(project, record, exp_id)
        if exp_id in load_experiments(project):
            raise UsageError(f"experiment {exp_id} is declared in params.yaml already")
        for key in ("model", "experiment"):
            target = project.root / record["from"][key]
            if target.exists():
                raise UsageError(
                    f"{record['from'][key]} exists; unarchiving would overwrite it",
                    hint="move it away first",
                )
        # A teammate's clone has the record but not the git-ignored folders.
        restore_archived_folders(project, dest, record)
        event = make_event("unarchive", exp_id, to_paths=record["from"])
        commit(project, {"kind": "unarchive", "event": event, "record": record})
    moved = _moves(project, dest, record)
    return ArchiveResult(exp_id, "unarchived", {dst: src for src, dst in moved.items()})


def archived_records(project: Project) -> list[dict[str, Any]]:
    """The archived.json of every archived experiment (unreadable or mismatched ones skipped)."""
    root = archive_root(project)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        try:
            record = read_json(folder / RECORD)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("id") == folder.name:
            found.append(checked_record(project, record, folder.name))
    return found


def checked_record(project: Project, record: Any, exp_id: str) -> dict[str, Any]:
    """archived.json as read from git: its ID is its folder's, and the folders it would
    restore lie inside the artifacts root (never a link, never outside the repository)."""
    source = project.rel(archive_root(project) / exp_id / RECORD)
    if not isinstance(record, dict):
        raise UntrustedMetadata(f"{source} is not a JSON object")
    if checked_id(record.get("id"), what="id", source=source) != exp_id:
        raise UntrustedMetadata(f"{source}: id {record.get('id')!r} is not its folder's {exp_id}")
    if record.get("phase") != "":  # "": a registry whose experiments have no phase
        checked_id(record.get("phase"), what="phase", source=source)
    origins = record.get("from")
    if not isinstance(origins, dict):
        raise UntrustedMetadata(f"{source}: 'from' must map model/experiment to folders")
    artifacts = project.rel(project.artifacts)
    for key in ("model", "experiment"):
        rel = contained(project.root, origins.get(key), what=f"from.{key}", source=source)
        if artifacts != "." and not rel.startswith(artifacts + "/"):
            raise UntrustedMetadata(f"{source}: from.{key} {rel!r} is not under {artifacts}/")
        origins[key] = rel
    if not isinstance(record.get("dvc_lock") or {}, dict):
        raise UntrustedMetadata(f"{source}: 'dvc_lock' must be a mapping")
    _check_files(record.get("files") or {}, source)
    return record


def _check_files(files: Any, source: str) -> None:
    """files.model / files.experiment: {path inside that folder: md5}, rebuilt from the cache."""
    if not isinstance(files, dict):
        raise UntrustedMetadata(f"{source}: 'files' must be a mapping")
    for key in ("model", "experiment"):
        listed = files.get(key) or {}
        if not isinstance(listed, dict):
            raise UntrustedMetadata(f"{source}: files.{key} must map paths to md5s")
        for rel, md5 in listed.items():
            contained(None, rel, what=f"a files.{key} path", source=source)
            checked_md5(md5, what=f"md5 of {rel}", source=source)
