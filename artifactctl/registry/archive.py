"""archive / unarchive: move an experiment out of the active set and back.

``archive ID --reason`` moves ``models/<phase>/<ID>/`` to ``archive/<ID>/model/``
and ``experiments/<ID>/`` to ``archive/<ID>/experiment/``, writes
``archive/<ID>/archived.json`` (its params.yaml entry, its dvc.lock entries, the
md5 of every file), removes the experiment from params.yaml and its
``train@ID``/``evaluate@ID`` entries from dvc.lock (so `dvc repro`, `status` and
`verify` no longer expect it), appends a row to ``archive/MANIFEST.md`` and an
event to the ledger. The moved files are git-ignored; their objects stay in the
DVC cache. ``unarchive ID`` reverses every step.

Both run under the repository lock with a crash journal; the steps below are
idempotent and recovery re-runs them, so an interrupted archive is completed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_json, atomic_write_text, fsync_dir, read_json
from artifactctl.hashing import dir_md5
from artifactctl.journal import Journal
from artifactctl.journal import step as journal_step
from artifactctl.project import Project
from artifactctl.registry.ledger import append_event, make_event

MANIFEST = "MANIFEST.md"
RECORD = "archived.json"
MANIFEST_HEAD = """# Archived experiments

Rows are appended by `artifactctl archive ID --reason TEXT` and `artifactctl unarchive ID`.
Hashes are DVC directory hashes (md5 of the folder's file list) of the moved folders.

| action | ID | date (UTC) | by | reason | was at | model md5 | experiment md5 | event |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""
GITIGNORE = "/*/model/\n/*/experiment/\n"


def archive_root(project: Project) -> Path:
    return project.artifacts / layout.ARCHIVE


@dataclass
class ArchiveResult:
    id: str
    action: str  # archived | unarchived
    moved: dict[str, str]  # from -> to (repository-relative)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "moved": self.moved}


def _hashes(folder: Path) -> dict[str, str]:
    from artifactctl.registry.champion import folder_hashes

    return folder_hashes(folder)


def archive(project: Project, exp_id: str, reason: str) -> ArchiveResult:
    from artifactctl.dvc.edit import (
        experiment_body,
        experiment_text,
        lock_positions,
        lock_stages,
        lock_stages_text,
    )
    from artifactctl.registry.experiments import get_experiment, read_metrics
    from artifactctl.registry.ledger import JOURNAL_OP, state_of

    if not reason or not reason.strip():
        raise UsageError("archive needs --reason TEXT (it goes into MANIFEST.md)")
    with project.lock():
        exp = get_experiment(project, exp_id)
        state = state_of(project)
        for label, champ in (
            ("the champion", state.current),
            ("the previous champion", state.previous),
        ):
            if champ is not None and champ.id == exp_id:
                raise UsageError(
                    f"experiment {exp_id} is {label}; it cannot be archived",
                    hint="promote another experiment (or roll back) first",
                )
        dest = archive_root(project) / exp_id
        if dest.exists():
            raise UsageError(
                f"{project.rel(dest)} already exists", hint="move it away, or unarchive it first"
            )
        model_dir, exp_dir = exp.model_dir(project), exp.experiment_dir(project)
        stages = [f"train@{exp_id}", f"evaluate@{exp_id}"]
        model_files, exp_files = _hashes(model_dir), _hashes(exp_dir)
        record = {
            "schema": "artifactctl.archived/1",
            "id": exp_id,
            "phase": exp.phase,
            "reason": reason,
            "params": experiment_body(project.root / "params.yaml", exp_id),
            "params_yaml": experiment_text(project.root / "params.yaml", exp_id),
            "dvc_lock": lock_stages(project.root / "dvc.lock", stages),
            "dvc_lock_yaml": lock_stages_text(project.root / "dvc.lock", stages),
            "dvc_lock_after": lock_positions(project.root / "dvc.lock", stages),
            "metrics": read_metrics(exp_dir),
            "from": {"model": project.rel(model_dir), "experiment": project.rel(exp_dir)},
            "files": {"model": model_files, "experiment": exp_files},
            "md5": {
                "model": dir_md5(model_files.items()) if model_files else None,
                "experiment": dir_md5(exp_files.items()) if exp_files else None,
            },
        }
        event = make_event(
            "archive", exp_id, reason=reason, phase=exp.phase, from_paths=record["from"]
        )
        record["event_id"] = event["event_id"]
        record["archived"] = event["time"]
        journal = Journal.begin(
            project, JOURNAL_OP, {"kind": "archive", "event": event, "record": record}
        )
        journal.step("archive-journal")
        apply_archive(project, journal.data)
        journal.finish()
    return ArchiveResult(
        exp_id,
        "archived",
        {
            record["from"]["model"]: project.rel(dest / "model"),
            record["from"]["experiment"]: project.rel(dest / "experiment"),
        },
    )


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless that already happened (idempotent)."""
    if src.exists() and not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        fsync_dir(src.parent)
        fsync_dir(dst.parent)


def apply_archive(project: Project, data: dict[str, Any]) -> None:
    from artifactctl.dvc.edit import remove_experiment, remove_lock_stages

    record, event = data["record"], data["event"]
    exp_id = record["id"]
    dest = archive_root(project) / exp_id
    _ensure_gitignore(archive_root(project))
    if not (dest / RECORD).exists():
        atomic_write_json(dest / RECORD, record)
    _move(project.root / record["from"]["model"], dest / "model")
    journal_step("archive-moved-model")
    _move(project.root / record["from"]["experiment"], dest / "experiment")
    journal_step("archive-moved-experiment")
    remove_experiment(project.root / "params.yaml", exp_id)
    journal_step("archive-params")
    remove_lock_stages(project.root / "dvc.lock", list(record["dvc_lock"]))
    journal_step("archive-lock")
    _manifest_row(project, "archived", record, event)
    journal_step("archive-manifest")
    append_event(project, event)


def unarchive(project: Project, exp_id: str) -> ArchiveResult:
    from artifactctl.registry.experiments import load_experiments
    from artifactctl.registry.ledger import JOURNAL_OP

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
        if exp_id in load_experiments(project):
            raise UsageError(f"experiment {exp_id} is declared in params.yaml already")
        for key in ("model", "experiment"):
            target = project.root / record["from"][key]
            if target.exists():
                raise UsageError(
                    f"{record['from'][key]} exists; unarchiving would overwrite it",
                    hint="move it away first",
                )
        event = make_event("unarchive", exp_id, to_paths=record["from"])
        journal = Journal.begin(
            project, JOURNAL_OP, {"kind": "unarchive", "event": event, "record": record}
        )
        journal.step("unarchive-journal")
        apply_unarchive(project, journal.data)
        journal.finish()
    return ArchiveResult(
        exp_id,
        "unarchived",
        {
            project.rel(dest / "model"): record["from"]["model"],
            project.rel(dest / "experiment"): record["from"]["experiment"],
        },
    )


def apply_unarchive(project: Project, data: dict[str, Any]) -> None:
    from artifactctl.dvc.edit import add_experiment, restore_lock_stages

    record, event = data["record"], data["event"]
    exp_id = record["id"]
    src = archive_root(project) / exp_id
    _move(src / "model", project.root / record["from"]["model"])
    _move(src / "experiment", project.root / record["from"]["experiment"])
    journal_step("unarchive-moved")
    body = record.get("params_yaml") or record.get("params")
    if body:
        add_experiment(project.root / "params.yaml", exp_id, body)
    restore_lock_stages(
        project.root / "dvc.lock", record.get("dvc_lock_yaml") or "", record.get("dvc_lock_after")
    )
    journal_step("unarchive-yaml")
    _manifest_row(project, "unarchived", record, event)
    append_event(project, event)
    journal_step("unarchive-ledger")
    if src.exists():
        shutil.rmtree(src)


def _manifest_row(project: Project, action: str, record: dict, event: dict) -> None:
    path = archive_root(project) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = MANIFEST_HEAD
    if event["event_id"] in text:
        return

    def cell(value: Any) -> str:
        return str(value or "").replace("|", "\\|").replace("\n", " ")

    md5 = record.get("md5") or {}
    where = ", ".join(f"`{p}`" for p in record["from"].values())
    row = [
        action,
        record["id"],
        event["time"],
        event.get("user"),
        record.get("reason") if action == "archived" else "",
        where,
        f"`{md5['model']}`" if md5.get("model") else "",
        f"`{md5['experiment']}`" if md5.get("experiment") else "",
        event["event_id"],
    ]
    sep = "" if text.endswith("\n") else "\n"
    atomic_write_text(path, text + sep + "| " + " | ".join(cell(c) for c in row) + " |\n")


def _ensure_gitignore(root: Path) -> None:
    path = root / ".gitignore"
    if not path.exists():
        atomic_write_text(path, GITIGNORE)
