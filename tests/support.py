"""Helpers for tests that build real git + DVC repositories."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Files of this repository that make up the reference pipeline (copied into test repos).
PIPELINE_FILES = ("dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore", ".dvcignore")


def sh(
    *args: str | os.PathLike[str],
    cwd: Path,
    check: bool = True,
    env: dict | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("git", *args, cwd=repo, check=check)


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(BIN / "dvc", *args, cwd=repo, check=check)


def artifactctl(
    repo: Path, *args: str, check: bool = False, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real console script in a subprocess (for exit codes, startup, crashes)."""
    return sh(BIN / "artifactctl", *args, cwd=repo, check=check, env=env, timeout=timeout)


def init_repo(path: Path, remote: Path | None = None) -> Path:
    """An empty git + DVC repository with a local default remote."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    dvc(path, "init", "-q")
    dvc(path, "config", "core.analytics", "false")
    remote = remote or path.parent / f"{path.name}-remote"
    remote.mkdir(parents=True, exist_ok=True)
    dvc(path, "remote", "add", "-d", "local", str(remote))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return path


def copy_pipeline(dest: Path, remote: Path) -> Path:
    """A fresh copy of this repository's reference pipeline as a new git + DVC repo.

    The package's source is copied too: the stages' dvc.yaml deps point into it,
    and ``python -m artifactctl.pipeline.<stage>`` run in the copy imports it.
    """
    dest.mkdir(parents=True)
    for name in PIPELINE_FILES:
        shutil.copy2(PROJECT / name, dest / name)
    shutil.copytree(
        PROJECT / "artifactctl",
        dest / "artifactctl",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    git(dest, "init", "-q", "-b", "main")
    dvc(dest, "init", "-q")
    shutil.copy2(PROJECT / ".dvc" / "config", dest / ".dvc" / "config")
    point_remote(dest, remote)
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "reference pipeline")
    return dest


def point_remote(repo: Path, remote: Path, name: str = "local") -> None:
    """Send the default remote to ``remote`` via .dvc/config.local (never git-tracked)."""
    remote.mkdir(parents=True, exist_ok=True)
    (repo / ".dvc" / "config.local").write_text(f"['remote \"{name}\"']\n    url = {remote}\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path, rels: Iterable[str] | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` (or of ``rels``), for byte-identity checks."""
    if rels is None:
        rels = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return {rel: sha256(root / rel) for rel in sorted(rels) if (root / rel).is_file()}


def invoke(repo: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run a command in-process through Typer's CliRunner, inside ``repo``."""
    from artifactctl.cli import load_app

    app = load_app()

    old = Path.cwd()
    os.chdir(repo)
    try:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def load_json_output(text: str) -> Any:
    return json.loads(text)
