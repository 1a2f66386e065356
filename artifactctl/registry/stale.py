"""Is the local champion copy the one the ledger names? (stale after a merge or a pull).

The ledger is git-tracked and merged; the champion copies and ``champion.json`` are
git-ignored and rebuilt per clone. After ``git pull`` brings a teammate's promotion
or rollback, the ledger names a champion the copies do not hold until something
rebuilds them (``where``, ``load_champion``, or the next registry command). Scripts
that read ``champion_current/`` directly would load the old model meanwhile, so the
read-only commands warn.

A slot never built in this clone (a fresh clone: no folder, no entry in
``champion.json``) is not stale: the first ``where`` builds it. Hashing goes through
the hash state, so unchanged model files are not re-read on every ``status``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from artifactctl.fs.atomic import read_json
from artifactctl.hashing import walk_files
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState, state_file
from artifactctl.project import Project
from artifactctl.registry.champion import CURRENT, POINTER, PREVIOUS, production_dir
from artifactctl.registry.ledger import Champion, RegistryState, state_of
from artifactctl.safepath import UntrustedMetadata, checked_id

SLOTS = ((CURRENT, "champion", "current"), (PREVIOUS, "previous", "previous"))


@dataclass
class StaleCopy:
    which: str  # champion | previous
    folder: str  # repository-relative
    expected: str | None  # the ledger's ID (None: the ledger has none)
    found: str | None  # the ID the copy was built for, when champion.json says so
    why: str  # "another ID" | "other files" | "no champion"

    @property
    def message(self) -> str:
        name = "champion" if self.which == "champion" else "previous champion"
        if self.expected is None:
            return f"the local {name} copy {self.folder}/ is stale: the ledger has no {name}"
        if self.why == "another ID" and self.found:
            held = f"holds {self.found} (the ledger changed in a merge or pull)"
        else:  # the same ID retrained and promoted again elsewhere, or a hand edit
            held = f"holds other files than {self.expected}'s (a merge, a pull or an edit)"
        return (
            f"the local {name} copy is stale: the ledger says {self.expected}, "
            f"but {self.folder}/ {held}"
        )

    @property
    def hint(self) -> str:
        return f"`artifactctl where {self.which}` rebuilds it from the ledger"


def stale_copies(project: Project, state: RegistryState | None = None) -> list[StaleCopy]:
    """Every champion copy this clone built that no longer matches the ledger."""
    prod = production_dir(project)
    if not prod.is_dir():
        return []
    state = state_of(project) if state is None else state
    pointer: dict = {}
    with contextlib.suppress(OSError, ValueError):
        doc = read_json(prod / POINTER)
        pointer = doc if isinstance(doc, dict) else {}
    found = []
    for slot, which, key in SLOTS:
        folder = prod / slot
        recorded = pointer.get(key)
        if not folder.is_dir():
            continue  # absent (fresh clone, deleted copy): nothing stale; `where` builds it
        champ = state.current if which == "champion" else state.previous
        why = _why_stale(project, folder, champ, recorded)
        if why is not None:
            expected = champ.id if champ is not None else None
            found.append(
                StaleCopy(which, project.rel(folder), expected, _recorded_id(recorded), why)
            )
    return found


def _why_stale(
    project: Project, folder: Path, champ: Champion | None, recorded: object
) -> str | None:
    if champ is None:
        return "no champion"
    if isinstance(recorded, dict):
        if recorded.get("id") != champ.id:
            return "another ID"
        if recorded.get("files") != champ.files:
            return "other files"
    if not _holds(project, folder, champ.files):
        return "other files"
    return None


def _recorded_id(recorded: object) -> str | None:
    if not isinstance(recorded, dict):
        return None
    try:
        return checked_id(recorded.get("id"), what="champion ID", source=POINTER)
    except UntrustedMetadata:
        return None


def _holds(project: Project, folder: Path, files: dict[str, str]) -> bool:
    present = {p.relative_to(folder).as_posix(): p for p in walk_files(folder)}
    if set(present) != set(files):
        return False
    state = HashState(state_file(project))
    rels = sorted(files)
    hashed = hash_many([(present[r], project.rel(present[r])) for r in rels], state=state)
    with contextlib.suppress(OSError):
        state.save()
    return all(h.digest == files[r] for r, h in zip(rels, hashed, strict=True))
