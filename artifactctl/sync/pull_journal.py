"""The crash journal of ``pull``: copies of the preserved files, and putting them back.

Before a pull touches anything, every preserved file that exists locally inside an
output it may write is copied into ``.dvc/tmp/artifactctl/journal/pull-*/files/`` and
its md5 recorded (phase ``copying``, then ``pulling`` once the copies are durable).
Whatever happens next, ``restore_preserved`` puts back each preserved file whose bytes
changed: at the end of the pull, on an error, or by ``recover_pull`` in the next
command after a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil

from artifactctl.dvc.tracked import TrackedOut
from artifactctl.fs.atomic import atomic_copy, fsync_dir
from artifactctl.hashing import md5_file, walk_files
from artifactctl.journal import Journal
from artifactctl.project import Project
from artifactctl.sync.preserve import is_preserved

OP = "pull"


def begin_journal(
    project: Project, outs: list[TrackedOut], rules: list[str], prefer: set[str]
) -> Journal:
    """Copy every preserved local file DVC could write into a new journal, durably."""
    protect = [rel for rel in _preserved_local(project, outs, rules) if rel not in prefer]
    journal = Journal.begin(project, OP, {"phase": "copying", "files": {}, "pid": os.getpid()})
    journal.step("pull-copying")
    files = {}
    for rel in protect:
        copy = journal.path / "files" / rel
        atomic_copy(project.root / rel, copy)
        files[rel] = md5_file(copy)
    fsync_dir(journal.path)
    journal.data = {"phase": "pulling", "files": files, "pid": os.getpid()}
    journal.save()
    journal.step("pull-journal")
    return journal


def _preserved_local(project: Project, outs: list[TrackedOut], rules: list[str]) -> list[str]:
    if not rules:
        return []
    found = []
    for out in outs:
        path = project.root / out.path
        if not out.is_dir:
            if path.is_file() and is_preserved(out.path, rules):
                found.append(out.path)
        elif path.is_dir() and _may_hold_preserved(out.path, rules):
            found += [r for r in map(project.rel, walk_files(path)) if is_preserved(r, rules)]
    return sorted(set(found))


def _may_hold_preserved(out: str, rules: list[str]) -> bool:
    return any(
        any(ch in rule for ch in "*?[")
        or rule.startswith(out + "/")
        or out == rule
        or out.startswith(rule.rstrip("/") + "/")
        for rule in rules
    )


def restore_preserved(project: Project, journal: Journal) -> list[str]:
    """Put back every journaled preserved file whose bytes changed; returns their paths."""
    if journal.data.get("phase") != "pulling":
        return []  # still copying: the workspace was not touched yet
    restored = []
    for rel, md5 in sorted(dict(journal.data.get("files") or {}).items()):
        path = project.root / rel
        with contextlib.suppress(OSError):
            if path.is_file() and md5_file(path) == md5:
                continue
        copy = journal.path / "files" / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        atomic_copy(copy, path)
        restored.append(rel)
    return restored


def recover_pull(project: Project, journal: Journal) -> str:
    """Called by the next command after a pull died: put the preserved files back.

    ``Project.lock()`` calls it with the repository lock held, so the pull that
    wrote the journal is dead.
    """
    files = dict(journal.data.get("files") or {})
    restored = restore_preserved(project, journal)
    journal.finish()
    if journal.data.get("phase") != "pulling":
        return "a pull was interrupted before it touched the workspace; nothing to restore"
    if restored:
        return (
            f"a pull was interrupted; restored {len(restored)} preserved file(s) from its "
            f"journal: {', '.join(restored)}"
        )
    names = ", ".join(sorted(files)) or "none"
    return (
        f"a pull was interrupted; its {len(files)} preserved file(s) are byte-identical "
        f"to the journal copies: {names}"
    )
