"""A run named in a URL: the one folder ``runs.saved.run_folders`` finds for it, or 404."""

from __future__ import annotations

from pathlib import Path

from artifactctl import layout
from artifactctl.project import Project
from artifactctl.runs.saved import run_folders
from artifactctl.serve.errors import NotFound
from artifactctl.serve.names import plain_name


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
    manifest = folder / layout.SAVED_RUN_MANIFEST
    saved = manifest.is_file() and not manifest.is_symlink()
    return layout.SAVED_RUN_MANIFEST if saved else layout.RUN_MANIFEST
