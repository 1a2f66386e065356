"""Shared steps of the pull/push tests: publish a reproduced repo, clone it, edit files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support import git, invoke, point_remote

REFERENCE = "artifacts/reference/healthy_cluster_avg.csv"
TRAIN = "artifacts/data/train.csv"
MODEL_DIR = "artifacts/models/candidates/v2-006"
MODEL = f"{MODEL_DIR}/model.joblib"


def commit_all(repo: Path, message: str = "results") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, "--allow-empty")


def publish(repo: Path) -> dict:
    """`artifactctl push` then commit dvc.lock and friends; returns the push JSON."""
    result = invoke(repo, "push", "--json")
    assert result.exit_code == 0, result.output
    commit_all(repo)
    return json.loads(result.stdout)


def clone(origin: Path, dest: Path, remote: Path | None = None) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(dest))
    if remote is not None:
        point_remote(dest, remote)
    elif (origin / ".dvc" / "config.local").exists():
        shutil.copy2(origin / ".dvc" / "config.local", dest / ".dvc" / "config.local")
    return dest


def edit(path: Path, text: str = "cluster,avg\nlocal,42\n") -> None:
    path.write_text(text)


def pull_json(repo: Path, *args: str) -> tuple[int, dict, str]:
    result = invoke(repo, "pull", "--json", *args)
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, doc, result.stderr


def states(doc: dict) -> dict[str, str]:
    return {f["path"]: f["state"] for f in doc["files"]}


def status_ok(repo: Path, *exclude: str) -> dict[str, str]:
    """`artifactctl status --json` states, minus ``exclude``."""
    result = invoke(repo, "status", "--json")
    doc = json.loads(result.stdout)
    return {a["path"]: a["state"] for a in doc["artifacts"] if a["path"] not in exclude}
