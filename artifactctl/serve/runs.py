"""Saved runs (``save_run``) and test runs (``artifactctl run``) found in the repository.

The same places ``resolve_run`` looks in: ``runs/<id>/`` (production), ``tests/<name>/``
(a test run) and ``tests/<name>/runs/<id>/``. A folder or manifest that is a
symlink is skipped, and so are hidden folders (a run being written is staged
under a hidden name and renamed into place when complete).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from artifactctl import layout
from artifactctl.project import Project
from artifactctl.serve.errors import NotFound
from artifactctl.serve.names import plain_name


def run_folders(project: Project) -> dict[str, list[Path]]:
    """run ID -> every folder holding a run of that ID (more than one: ambiguous)."""
    root = project.artifacts
    found: dict[str, list[Path]] = {}

    def add(run_id: str, folder: Path, manifest: str) -> None:
        if _regular(folder / manifest):
            found.setdefault(run_id, []).append(folder)

    for folder in _subdirs(root / layout.RUNS):
        add(folder.name, folder, layout.SAVED_RUN_MANIFEST)
    for test in _subdirs(root / layout.TESTS):
        add(test.name, test, layout.RUN_MANIFEST)
        for folder in _subdirs(test / layout.RUNS):
            add(folder.name, folder, layout.SAVED_RUN_MANIFEST)
    return found


def find_run(project: Project, run_id: str) -> Path:
    """The one folder of ``run_id``: NotFound if there is none or more than one."""
    plain_name(run_id, "run")
    folders = run_folders(project).get(run_id, [])
    if len(folders) != 1:
        if folders:
            where = ", ".join(project.rel(f) for f in folders)
            raise NotFound(f"run ID {run_id!r} is ambiguous: {where}")
        raise NotFound(f"no run {run_id!r} under {project.rel(project.artifacts)}/")
    return folders[0]


def manifest_name(folder: Path) -> str:
    saved = _regular(folder / layout.SAVED_RUN_MANIFEST)
    return layout.SAVED_RUN_MANIFEST if saved else layout.RUN_MANIFEST


def _subdirs(path: Path) -> list[Path]:
    if os.path.islink(path):
        return []
    try:
        with os.scandir(path) as it:
            entries = [e for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(Path(e.path) for e in entries if not e.name.startswith("."))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
