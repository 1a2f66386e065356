"""Planning ``verify`` of test runs (run.json) and saved runs (manifest.json): each
listed file's SHA-256 and size."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from artifactctl.layout import RUN_MANIFEST, RUNS, SAVED_RUN_MANIFEST, TESTS
from artifactctl.project import Project
from artifactctl.verify.plan import _Group
from artifactctl.verify.report import FileCheck


def _find_runs(project: Project, skip: set[str]) -> list[tuple[str, str | None, str]]:
    """(run folder, its manifest or None, kind) for test runs and saved runs.

    ``skip``: folders not to search (DVC-tracked directories: DVC answers for them).
    """
    art = project.artifacts
    runs: list[tuple[str, str | None, str]] = []
    tests_dir = art / TESTS
    if tests_dir.is_dir():
        for entry in sorted(os.scandir(tests_dir), key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                manifest = Path(entry.path) / RUN_MANIFEST
                runs.append(
                    (
                        project.rel(Path(entry.path)),
                        project.rel(manifest) if manifest.is_file() else None,
                        "test_run",
                    )
                )
    stack = [art]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name == RUNS:
                for run in sorted(os.scandir(entry.path), key=lambda e: e.name):
                    manifest = Path(run.path) / SAVED_RUN_MANIFEST
                    if run.is_dir(follow_symlinks=False) and manifest.is_file():
                        runs.append(
                            (project.rel(Path(run.path)), project.rel(manifest), "saved_run")
                        )
            elif entry.name not in (".git", ".dvc") and entry.path not in skip:
                stack.append(Path(entry.path))
    # test runs without a run.json are not verifiable: keep them out of the count
    return [r for r in runs if r[1] is not None]


def _unfinished(manifest: Path) -> bool:
    """A test run whose run.json says it is still running (written before the stages)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status") == "running"


def _manifest_files(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else None


def _plan_run(
    project: Project, run_dir: str, manifest: str | None, kind: str, checks: list[FileCheck]
) -> list[_Group]:
    assert manifest is not None
    files = _manifest_files(project.root / manifest)
    if files is None:
        checks.append(
            FileCheck(
                manifest,
                "unreadable",
                kind,
                run_dir,
                manifest,
                algorithm="sha256",
                detail="manifest is not valid JSON with a 'files' table",
            )
        )
        return []
    paths: list[str] = []
    rels: list[str] = []
    expects: list[str] = []
    sizes: list[int | None] = []
    for rel, entry in sorted(files.items()):
        entry = entry if isinstance(entry, dict) else {}
        parts = PurePosixPath(rel).parts
        if PurePosixPath(rel).is_absolute() or ".." in parts or not parts:
            checks.append(
                FileCheck(
                    f"{run_dir}/{rel}",
                    "unreadable",
                    kind,
                    run_dir,
                    manifest,
                    "sha256",
                    detail="path in the manifest points outside the run folder",
                )
            )
            continue
        expected = entry.get("sha256")
        size = entry.get("size")
        paths.append(f"{project.root}/{run_dir}/{rel}")
        rels.append(f"{run_dir}/{rel}")
        expects.append(str(expected or ""))
        sizes.append(size if isinstance(size, int) else None)
    return [_Group((kind, run_dir, manifest, "sha256"), paths, rels, expects, sizes=sizes)]
