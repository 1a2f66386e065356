"""Crash journals: an operation writes its intent before it touches anything.

A journal is a folder ``.dvc/tmp/artifactctl/journal/<op>-<id>/`` holding
``intent.json`` (the operation, and whatever it needs to finish or undo the
work) and any backup copies. The operation removes the folder as its last step.
If the process dies, the next artifactctl command finds the folder and calls the
operation's recovery function before doing anything else.

Recovery functions are registered here by name ("module:function") so that
finding a journal costs one ``listdir`` and imports nothing.

Every crash-safe operation marks its named steps with ``Journal.step`` (or ``step``
where no journal exists yet). A step is where a crash may happen: with
``ARTIFACTCTL_PAUSE_AT=<step>`` the process says ``artifactctl: paused at <step>``
on stderr and waits there (``ARTIFACTCTL_PAUSE_SECONDS``, default 60), so fault
injection can SIGKILL it at exactly that step. docs/architecture.md lists the steps.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from artifactctl.fs.atomic import atomic_write_json, fsync_dir, read_json


class Repository(Protocol):
    """What journals need of a project (``artifactctl.project.Project`` is one)."""

    @property
    def journal_dir(self) -> Path: ...


# op name -> "module:function(project, journal) -> str" (a message for the user)
RECOVERY: dict[str, str] = {
    "registry": "artifactctl.registry.journaled:recover",
    "clean": "artifactctl.clean.apply:recover_clean",
    "pull": "artifactctl.sync.pull_journal:recover_pull",
    # a production run killed after DVC began replacing registered artifacts
    "production-run": "artifactctl.runs.production:recover_production_run",
}

INTENT = "intent.json"
PAUSE_AT = "ARTIFACTCTL_PAUSE_AT"
PAUSE_SECONDS = "ARTIFACTCTL_PAUSE_SECONDS"


def step(name: str) -> None:
    """A named step of a crash-safe operation (pauses there when ARTIFACTCTL_PAUSE_AT names it)."""
    if os.environ.get(PAUSE_AT) != name:
        return
    sys.stderr.write(f"artifactctl: paused at {name}\n")
    sys.stderr.flush()
    time.sleep(float(os.environ.get(PAUSE_SECONDS, "60")))


def journal_root(project: Repository) -> Path:
    return project.journal_dir


@dataclass
class Journal:
    path: Path
    op: str
    data: dict[str, Any]

    @classmethod
    def begin(cls, project: Repository, op: str, data: dict[str, Any]) -> Journal:
        if op not in RECOVERY:
            raise ValueError(f"no recovery registered for journal op {op!r}")
        path = journal_root(project) / f"{op}-{uuid.uuid4().hex[:12]}"
        path.mkdir(parents=True)
        journal = cls(path, op, data)
        journal.save()
        return journal

    def step(self, name: str) -> None:
        """A named step of this operation (see ``step``)."""
        step(name)

    def save(self) -> None:
        """Durably record the intent (and any progress kept in ``data``)."""
        atomic_write_json(self.path / INTENT, {"op": self.op, "data": self.data})

    def finish(self) -> None:
        """The operation is complete: forget the journal (the commit point for some ops)."""
        done = self.path.with_name(self.path.name + ".done")
        os.replace(self.path, done)
        fsync_dir(done.parent)
        shutil.rmtree(done, ignore_errors=True)


def pending(project: Repository) -> list[Journal]:
    root = journal_root(project)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = root / name
        if name.endswith(".done"):
            shutil.rmtree(path, ignore_errors=True)  # finished; only the delete was cut short
            continue
        try:
            intent = read_json(path / INTENT)
        except (OSError, ValueError):
            # Died before the intent was durable: nothing was touched yet.
            shutil.rmtree(path, ignore_errors=True)
            continue
        found.append(Journal(path, str(intent.get("op")), dict(intent.get("data") or {})))
    return found


def recover(project: Repository) -> list[str]:
    """Complete or undo every interrupted operation; returns what was done, for the user.

    Only with the repository lock held (``Project.lock`` calls it): a journal found
    without the lock may belong to a live process.
    """
    messages = []
    for journal in pending(project):
        target = RECOVERY.get(journal.op)
        if target is None:
            messages.append(f"left an unknown interrupted operation in {journal.path}")
            continue
        module, func = target.split(":")
        handler = getattr(importlib.import_module(module), func)
        message = handler(project, journal)
        if message:  # an empty message: nothing was left to do (say, another process finished it)
            messages.append(message)
    return messages
