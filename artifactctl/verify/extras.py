"""Extra files: present in a tracked folder or a run folder, recorded nowhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut
from artifactctl.hashing import walk_relpaths
from artifactctl.layout import KEEP_MARKER
from artifactctl.project import Project
from artifactctl.scope import inside
from artifactctl.verify.plan import Recorded
from artifactctl.verify.report import FileCheck
from artifactctl.verify.runs import Run, manifest_files


def find_extras(
    project: Project, outs: list[TrackedOut], recorded: Recorded, runs: list[Run]
) -> list[FileCheck]:
    """Files in a tracked folder (.dvcignore aside) or a run folder that nothing records."""
    found = _in_outputs(project, outs, recorded)
    folders = [run.folder for run in runs]
    for run in runs:
        listed = manifest_files(project.root / run.manifest)
        if listed is None:
            continue  # already reported unreadable; without a list nothing is "extra"
        top = project.root / run.folder
        for rel in walk_relpaths(top):
            path = f"{run.folder}/{rel}"
            if rel in listed or path == run.manifest or rel == KEEP_MARKER:
                continue
            # a saved run inside a test run answers to its own manifest
            if any(other != run.folder and inside(path, other) for other in folders):
                continue
            found.append(_extra(top / rel, path, run.kind, run.folder, run.manifest))
    return found


def _in_outputs(project: Project, outs: list[TrackedOut], recorded: Recorded) -> list[FileCheck]:
    found = []
    ignored = _dvcignore(project.root) if any(o.is_dir for o in outs) else None
    for out in outs:
        files = recorded[out.path]
        top = project.root / out.path
        if not out.is_dir or files is None or not top.is_dir():
            continue
        for rel in walk_relpaths(top):
            path = f"{out.path}/{rel}"
            if path not in files and not (ignored and ignored(path)):
                found.append(_extra(top / rel, path, "workspace", out.path, out.source))
    return found


def _extra(file: Path, path: str, kind: str, artifact: str, recorded_in: str) -> FileCheck:
    try:
        size: int | None = file.stat().st_size
    except OSError:
        size = None
    return FileCheck(
        path, "extra", kind, artifact, recorded_in, size=size, detail="not in the recorded manifest"
    )


def _dvcignore(root: Path) -> Callable[[str], bool] | None:
    """The root .dvcignore as a predicate on repository-relative paths (None: no rules)."""
    try:
        lines = (root / ".dvcignore").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return None
    import pathspec  # only when there are rules: most repositories have none

    return pathspec.PathSpec.from_lines("gitwildmatch", lines).match_file
