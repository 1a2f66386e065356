"""Where a local copy goes before a command replaces it: one place for every command.

``pull --prefer-remote`` / ``pull --force`` and production runs (``run --mode
production``, ``refresh``) keep a file they are about to replace as a backup made
by ``back_up``. Where backups live is decided here only, by ``backup_path``: today
``PATH.local-<stamp>`` beside the file (layout.BACKUP_SUFFIX, git-ignored by the
scaffold's rule), except for a file inside a folder DVC tracks as one output: DVC
deletes that whole folder before a stage writes it again, so its backups go to the
same relative path under the state folder (``.dvc/tmp/artifactctl/backups/``, never
tracked). Pointing every command at another folder is a change of that function alone.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from artifactctl.fs.atomic import atomic_copy
from artifactctl.layout import BACKUP_SUFFIX

if TYPE_CHECKING:
    from artifactctl.project import Project

BACKUPS = "backups"  # under the state folder


def backup_path(
    project: Project, path: Path, stamp: time.struct_time, tracked_dirs: frozenset[str]
) -> Path:
    """A new, unused path for the backup of ``path`` (a file of ``project``) made at
    ``stamp``; ``tracked_dirs``: the folders DVC tracks as one output (``tracked_folders``)."""
    folder = path.parent
    rel = PurePosixPath(project.rel(path))
    if any(str(parent) in tracked_dirs for parent in rel.parents):
        folder = project.state_dir / BACKUPS / rel.parent
    seconds = calendar.timegm(stamp)
    while True:
        text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))
        candidate = folder / (path.name + BACKUP_SUFFIX.format(stamp=text))
        if not candidate.exists():
            return candidate
        seconds += 1


def tracked_folders(project: Project) -> frozenset[str]:
    from artifactctl.dvc.tracked import tracked_outs

    return frozenset(o.path for o in tracked_outs(project.root) if o.is_dir)


def back_up(project: Project, paths: list[Path]) -> list[Path]:
    """Copy each of ``paths`` (regular files) to its backup, durably; the backups' paths."""
    stamp = time.gmtime()
    dirs = tracked_folders(project) if paths else frozenset()
    backups = []
    for path in paths:
        backup = backup_path(project, path, stamp, dirs)
        atomic_copy(path, backup)
        backups.append(backup)
    return backups
