"""What pull, push and preserve compare: DVC's recorded outputs and the workspace's files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut, out_files, tracked_outs
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState, state_file
from artifactctl.project import Project
from artifactctl.scope import select_outs


def cached_outs(project: Project, targets: Iterable[str] | None) -> list[TrackedOut]:
    """Recorded, cached outputs, limited to ``targets`` (paths of outputs, inside or above)."""
    outs = [o for o in tracked_outs(project.root) if o.cache and o.md5]
    return select_outs(project, outs, targets, what="DVC-tracked output")


def expand_outs(
    project: Project, outs: list[TrackedOut]
) -> list[tuple[TrackedOut, dict[str, str] | None]]:
    """Each output with its files ({path: md5}; None: a folder whose listing is not cached)."""
    return [(out, out_files(project.cache_dir, out)) for out in outs]


def local_md5s(project: Project, rels: Iterable[str], jobs: int = 0) -> dict[str, str | None]:
    """The md5 of each workspace file named (None: unreadable), through the hash state.

    Only files that exist are hashed; a missing one is left out of the answer.
    """
    present = [(project.root / rel, rel) for rel in _existing(project.root, rels)]
    if not present:
        return {}
    state = HashState(state_file(project))
    found = {h.key: h.md5 for h in hash_many(present, state=state, jobs=jobs)}
    state.save()
    return found


def _existing(root: Path, rels: Iterable[str]) -> list[str]:
    """The files among ``rels`` that exist: one listing per folder, and a stat only for the
    names listed (a first pull's 50,000 absent files cost no stat each)."""
    by_folder: dict[str, list[str]] = {}
    for rel in rels:
        by_folder.setdefault(rel.rpartition("/")[0], []).append(rel)
    found = []
    for folder, names in by_folder.items():
        try:
            listed = set(os.listdir(os.path.join(root, folder)))
        except OSError:  # no such folder (or not one): none of its files is there
            continue
        for rel in names:
            if rel.rpartition("/")[2] in listed and os.path.isfile(os.path.join(root, rel)):
                found.append(rel)
    return found
