"""Planning ``verify`` of test runs (run.json) and saved runs (manifest.json): each
listed file's SHA-256 and size."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from artifactctl.layout import RUN_MANIFEST, RUNS, SAVED_RUN_MANIFEST
from artifactctl.project import Project
from artifactctl.safepath import UntrustedMetadata, contained, read_regular
from artifactctl.verify.plan import Planned
from artifactctl.verify.report import FileCheck


@dataclass(frozen=True, slots=True)
class Run:
    """A test run or a saved run, with the manifest that lists its files."""

    folder: str  # repository-relative
    manifest: str  # repository-relative
    kind: str  # test_run | saved_run


def find_runs(project: Project, skip: set[str]) -> list[Run]:
    """Test runs with a run.json, and saved runs anywhere under the artifacts root.

    ``skip``: folders not to search (DVC-tracked directories: DVC answers for them).
    """
    art = project.artifacts
    runs: list[Run] = []
    for tests_dir in project.every_tests_dir():
        if not tests_dir.is_dir():
            continue
        for entry in sorted(os.scandir(tests_dir), key=lambda e: e.name):
            manifest = Path(entry.path) / RUN_MANIFEST
            # a test run without a run.json is not verifiable: it is not counted either
            if entry.is_dir(follow_symlinks=False) and manifest.is_file():
                runs.append(_run(project, entry.path, manifest, "test_run"))
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
                runs += _saved_runs(project, entry.path)
            elif entry.name not in (".git", ".dvc") and entry.path not in skip:
                stack.append(Path(entry.path))
    return runs


def _saved_runs(project: Project, folder: str) -> list[Run]:
    runs = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        manifest = Path(entry.path) / SAVED_RUN_MANIFEST
        if entry.is_dir(follow_symlinks=False) and manifest.is_file():
            runs.append(_run(project, entry.path, manifest, "saved_run"))
    return runs


def _run(project: Project, folder: str, manifest: Path, kind: str) -> Run:
    return Run(project.rel(Path(folder)), project.rel(manifest), kind)


def unfinished(project: Project, run: Run) -> bool:
    """A run whose manifest says it is still running (written before the stages)."""
    try:
        data = json.loads(read_regular(project.root / run.manifest).decode("utf-8"))
    except (OSError, ValueError, RecursionError, UntrustedMetadata):
        return False
    return isinstance(data, dict) and data.get("status") == "running"


def manifest_files(path: Path) -> dict | None:
    """The ``files`` table of a run manifest, or None if it cannot be read as one."""
    try:
        data = json.loads(read_regular(path).decode("utf-8"))
    except (OSError, ValueError, RecursionError, UntrustedMetadata):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else None


def plan_run(project: Project, run: Run) -> tuple[Planned | None, list[FileCheck]]:
    """The run's files with their recorded SHA-256 and size, and the verdicts known
    without hashing (an unreadable manifest, a listed path that leaves the run folder)."""
    files = manifest_files(project.root / run.manifest)
    if files is None:
        unreadable = FileCheck(
            run.manifest,
            "unreadable",
            run.kind,
            run.folder,
            run.manifest,
            algorithm="sha256",
            detail="manifest is not valid JSON with a 'files' table",
        )
        return None, [unreadable]
    planned = Planned(run.kind, run.folder, run.manifest, "sha256", {})
    refused: list[FileCheck] = []
    for rel, entry in sorted(files.items()):
        path = f"{run.folder}/{rel}"
        try:
            contained(None, rel, what="a files key", source=run.manifest)
        except UntrustedMetadata:
            refused.append(
                FileCheck(
                    path,
                    "unreadable",
                    run.kind,
                    run.folder,
                    run.manifest,
                    "sha256",
                    detail="path in the manifest points outside the run folder",
                )
            )
            continue
        entry = entry if isinstance(entry, dict) else {}
        planned.files[path] = str(entry.get("sha256") or "")
        if isinstance(entry.get("size"), int):
            planned.sizes[path] = entry["size"]
    return planned, refused
