"""The registry ledger: ``artifacts/models/production/ledger.jsonl``, git-tracked.

One JSON object per line, oldest first. The ledger is the single source of
truth of the registry: who is champion and previous champion (a replay of
promote / rollback events), the highest experiment ID ever allocated, and the
audit trail `artifactctl history` prints. Each write replaces the whole file
atomically (temporary file, fsync, rename), so a crash leaves the old ledger or
the new one, and appending an event is the commit point of every registry
operation.

Event fields: ``event`` (new | promote | rollback | archive | unarchive),
``event_id`` (unique), ``time`` (ISO-8601 UTC), ``user``, ``id`` (the
experiment), and per kind: promote ``from`` (the replaced champion), ``phase``,
``files`` ({relpath: md5} of the champion copy), ``against``, ``forced``,
``reason``, ``test`` (promotion-test JSON path), ``gates`` (summary);
rollback ``from``/``to``/``reason``; archive ``reason``, ``from_path``.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_text
from artifactctl.project import Project
from artifactctl.registry.folders import ensure_ignored
from artifactctl.safepath import (
    UntrustedMetadata,
    checked_id,
    checked_md5,
    contained,
    read_regular,
)

LEDGER = "ledger.jsonl"
SCHEMA = "artifactctl.ledger/1"


MERGE_ATTRIBUTES = f"/{LEDGER} merge=union\n"
JOURNAL_OP = "registry"  # the crash journal of promote, rollback, archive and unarchive


def state_of(project: Project) -> RegistryState:
    """The registry as the ledger says it is now."""
    return replay(read_events(project))


def ledger_path(project: Project) -> Path:
    return project.registry_dir / LEDGER


def read_events(project: Project) -> list[dict[str, Any]]:
    """The events in replay order: a total order that does not depend on git's merge order.

    Clones append concurrently and git merges the ledger as a union of lines
    (``.gitattributes``), so file order differs between clones. Each event
    carries ``seq`` (one more than the highest it saw; an old event without one
    counts its line number); concurrent events share a ``seq`` and are ordered by
    ``time``, then ``event_id``: of two concurrent promotions the later one wins.
    """
    seen: set[str] = set()
    keyed = []
    for number, event in _read_lines(project):
        key = str(event.get("event_id", ""))
        if key and key in seen:
            continue  # the same event brought in twice (a cherry-pick, a re-merge)
        seen.add(key)
        keyed.append(((_seq(number, event), str(event.get("time", "")), key), event))
    return [event for _, event in sorted(keyed, key=lambda pair: pair[0])]


def _seq(number: int, event: dict[str, Any]) -> int:
    return int(event.get("seq", number))


def _read_lines(project: Project) -> list[tuple[int, dict[str, Any]]]:
    path = ledger_path(project)
    try:
        text = read_regular(path).decode("utf-8")
    except FileNotFoundError:
        return []
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            raise UsageError(
                f"{project.rel(path)} line {number} is not valid JSON",
                hint="restore the ledger from git (`git checkout -- <ledger>`)",
            ) from None
        if not isinstance(event, dict) or "event" not in event:
            raise UsageError(f"{project.rel(path)} line {number} is not a ledger event")
        if not isinstance(event.get("seq", 0), int):
            raise UsageError(f"{project.rel(path)} line {number}: seq is not a number")
        events.append((number, check_event(event, f"{project.rel(path)} line {number}")))
    return events


def check_event(event: dict[str, Any], source: str) -> dict[str, Any]:
    """A ledger event read from git: its IDs are names and a promotion's files stay inside
    the champion folder, whatever the line says (one line, exit 2, otherwise)."""
    for key in ("id", "from", "to", "against", "replaced"):
        if event.get(key) is not None or key == "id":
            checked_id(event.get(key), what=key, source=source)
    if not isinstance(event.get("event_id", ""), str):
        raise UntrustedMetadata(f"{source}: event_id must be a string")
    if event["event"] == "promote":
        if event.get("phase") != "":  # "": a registry whose experiments have no phase
            checked_id(event.get("phase"), what="phase", source=source)
        files = event.get("files")
        if not isinstance(files, dict):
            raise UntrustedMetadata(f"{source}: files must map the champion's files to md5s")
        for rel, md5 in files.items():
            contained(None, rel, what="a files key", source=source)
            checked_md5(md5, what=f"md5 of {rel}", source=source)
        if "event_id" not in event:
            raise UntrustedMetadata(f"{source}: a promote event needs an event_id")
    return event


def make_event(kind: str, exp_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "event": kind,
        "event_id": uuid.uuid4().hex,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "user": _user(),
        "id": exp_id,
        **fields,
    }


def append_event(project: Project, event: dict[str, Any]) -> bool:
    """Add ``event`` unless an event with its ``event_id`` is already there (idempotent)."""
    events = _read_lines(project)
    if any(e.get("event_id") == event["event_id"] for _, e in events):
        return False
    seq = max((_seq(n, e) for n, e in events), default=0) + 1
    line = json.dumps({**event, "seq": seq}, sort_keys=True)
    path = ledger_path(project)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    # Appended, never rewritten: git's union merge keeps both clones' new lines.
    ensure_ignored(path.parent, MERGE_ATTRIBUTES, name=".gitattributes")
    sep = "" if not text or text.endswith("\n") else "\n"
    atomic_write_text(path, text + sep + line + "\n")
    return True


def has_event(project: Project, event_id: str) -> bool:
    return any(e.get("event_id") == event_id for e in read_events(project))


@dataclass(frozen=True)
class Champion:
    id: str
    phase: str
    files: dict[str, str]  # relpath inside the model folder -> md5
    event_id: str


@dataclass
class RegistryState:
    stack: list[Champion] = field(default_factory=list)  # promotions not rolled back
    high_water: dict[str, int] = field(default_factory=dict)  # prefix -> highest number
    archived: set[str] = field(default_factory=set)
    head: tuple[int, str | None] = (0, None)  # how many events, and the last one's event_id

    @property
    def current(self) -> Champion | None:
        return self.stack[-1] if self.stack else None

    @property
    def previous(self) -> Champion | None:
        return self.stack[-2] if len(self.stack) >= 2 else None


def replay(events: list[dict[str, Any]], prefix: str = "") -> RegistryState:
    """The registry state the ledger describes."""
    state = RegistryState()
    for e in events:
        kind = e.get("event")
        exp_id = str(e.get("id", ""))
        _note_id(state, exp_id)
        if kind == "promote":
            state.stack.append(
                Champion(exp_id, str(e["phase"]), dict(e["files"]), str(e["event_id"]))
            )
        elif kind == "rollback" and state.stack:
            state.stack.pop()
        elif kind == "archive":
            state.archived.add(exp_id)
        elif kind == "unarchive":
            state.archived.discard(exp_id)
    if events:
        state.head = (len(events), events[-1].get("event_id"))
    return state


def split_id(exp_id: str) -> tuple[str, int] | None:
    """("v2-", 6) for "v2-006"; None when the ID does not end in digits."""
    digits = len(exp_id) - len(exp_id.rstrip("0123456789"))
    if digits == 0:
        return None
    return exp_id[:-digits], int(exp_id[-digits:])


def id_order(exp_id: str) -> tuple[str, int, str]:
    """A sort key: by prefix, then number ("v2-010" after "v2-009"), then the ID itself."""
    parts = split_id(exp_id)
    return (parts[0], parts[1], exp_id) if parts else (exp_id, -1, exp_id)


def _note_id(state: RegistryState, exp_id: str) -> None:
    parts = split_id(exp_id)
    if parts:
        prefix, number = parts
        state.high_water[prefix] = max(state.high_water.get(prefix, 0), number)


def _user() -> str:
    for var in ("GIT_AUTHOR_NAME", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
