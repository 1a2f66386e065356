"""Registry operations under a crash journal: the steps each applies, and their recovery.

promote, rollback, archive and unarchive check their input, then ``commit`` a journal
(op ``registry``) holding everything needed to finish, then ``apply`` its steps. The
steps are idempotent, so ``recover`` (run by the next command after a crash) runs the
same ones again and rolls the operation forward. Appending the event to the ledger is
the commit point of promote and rollback; the champion copies follow from the ledger.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from artifactctl.errors import IntegrityError
from artifactctl.fs.atomic import atomic_write_json, atomic_write_text, fsync_dir
from artifactctl.journal import Journal
from artifactctl.journal import step as journal_step
from artifactctl.project import Project
from artifactctl.registry.champion import reconcile
from artifactctl.registry.folders import ensure_ignored
from artifactctl.registry.ledger import JOURNAL_OP, append_event, has_event, state_of

MANIFEST = "MANIFEST.md"
RECORD = "archived.json"
MANIFEST_HEAD = """# Archived experiments

Rows are appended by `artifactctl archive ID --reason TEXT` and `artifactctl unarchive ID`.
Hashes are DVC directory hashes (md5 of the folder's file list) of the moved folders.

| action | ID | date (UTC) | by | reason | was at | model md5 | experiment md5 | event |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""
ARCHIVE_GITIGNORE = "/*/model/\n/*/experiment/\n"


def archive_root(project: Project) -> Path:
    return project.archive_dir


def commit(project: Project, data: dict[str, Any]) -> None:
    """Journal ``data`` (its ``kind`` and ``event``), apply its steps, forget the journal."""
    # recovery runs in whatever command comes next: it must know the family
    data = {**data, "registry": project.registry_name or ""}
    journal = Journal.begin(project, JOURNAL_OP, data)
    journal.step(f"{data['kind']}-journal")
    apply(project, journal.data)
    journal.finish()


def apply(project: Project, data: dict[str, Any]) -> None:
    """The idempotent steps of a journaled operation (the same code runs on recovery)."""
    kind = data["kind"]
    if kind == "archive":
        _apply_archive(project, data)
    elif kind == "unarchive":
        _apply_unarchive(project, data)
    else:
        _apply_champion_change(project, data)


def recover(project: Project, journal: Journal) -> str:
    """Finish an interrupted promote/rollback/archive/unarchive (journal op ``registry``).

    Called by ``Project.lock()`` with the repository lock already held, so no
    other artifactctl process can be working on this journal.
    """
    if not (journal.path / "intent.json").exists():
        return ""  # the operation that owned it finished meanwhile
    data = journal.data
    registry = data.get("registry") or ""
    if not isinstance(registry, str) or (registry and registry not in project.settings.registries):
        raise IntegrityError(
            f"an interrupted registry operation names the registry {registry!r}, "
            "which pyproject.toml no longer declares",
            hint="declare it again, then run any artifactctl command",
        )
    project = project.with_registry(registry)
    was_committed = has_event(project, data["event"]["event_id"])
    try:
        apply(project, data)
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


# --------------------------------------------------------------- promote, rollback


def _apply_champion_change(project: Project, data: dict[str, Any]) -> None:
    kind = data["kind"]
    if kind == "promote" and data.get("test"):
        rel, doc = data["test"]
        atomic_write_json(project.artifacts / rel, doc)
    append_event(project, data["event"])
    journal_step(f"{kind}-ledger")
    reconcile(project, state_of(project))


# -------------------------------------------------------------- archive, unarchive


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless that already happened (idempotent)."""
    if src.exists() and not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        fsync_dir(src.parent)
        fsync_dir(dst.parent)


def _apply_archive(project: Project, data: dict[str, Any]) -> None:
    from artifactctl.dvc.edit import remove_experiment, remove_lock_stages

    record, event = data["record"], data["event"]
    exp_id = record["id"]
    dest = archive_root(project) / exp_id
    ensure_ignored(archive_root(project), ARCHIVE_GITIGNORE)
    if not (dest / RECORD).exists():
        atomic_write_json(dest / RECORD, record)
    _move(project.root / record["from"]["model"], dest / "model")
    journal_step("archive-moved-model")
    _move(project.root / record["from"]["experiment"], dest / "experiment")
    journal_step("archive-moved-experiment")
    remove_experiment(project.root / "params.yaml", exp_id, project.registry.experiments)
    journal_step("archive-params")
    remove_lock_stages(project.root / "dvc.lock", list(record["dvc_lock"]))
    journal_step("archive-lock")
    _manifest_row(project, "archived", record, event)
    journal_step("archive-manifest")
    append_event(project, event)


def _apply_unarchive(project: Project, data: dict[str, Any]) -> None:
    from artifactctl.dvc.edit import add_experiment, restore_lock_stages

    record, event = data["record"], data["event"]
    exp_id = record["id"]
    src = archive_root(project) / exp_id
    # results first: a model folder inside the results folder (a layout's templates may
    # nest them) then finds its parent back in place; one folder holding both moved once
    _move(src / "experiment", project.root / record["from"]["experiment"])
    _move(src / "model", project.root / record["from"]["model"])
    journal_step("unarchive-moved")
    body = record.get("params_yaml") or record.get("params")
    if body:
        add_experiment(project.root / "params.yaml", exp_id, body, project.registry.experiments)
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
