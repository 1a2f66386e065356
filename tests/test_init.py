"""`artifactctl init` scaffolds a repository once; running it again changes nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import git, init_repo, invoke, snapshot

from artifactctl.config import load_settings


def test_init_scaffolds_tree_gitignore_and_settings(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    result = invoke(repo, "init", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["changed"] is True
    for rel in (
        "data",
        "reference",
        "models/baseline",
        "models/candidates",
        "models/production",
        "experiments/promotion_tests",
        "tests",
        "archive",
    ):
        assert (repo / "artifacts" / rel).is_dir()
    assert load_settings(repo, environ={}).default_mode == "test"


def test_init_is_idempotent(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    invoke(repo, "init")
    before = snapshot(repo, [".gitignore", "pyproject.toml"])
    result = invoke(repo, "init", "--json")
    assert json.loads(result.stdout)["changed"] is False
    assert snapshot(repo, [".gitignore", "pyproject.toml"]) == before
    assert ".gitignore" in before


def test_init_keeps_existing_gitignore_and_pyproject(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "pyproject.toml").write_text('[project]\nname = "mine"\n# keep me\n')
    invoke(repo, "init")
    gitignore = (repo / ".gitignore").read_text()
    assert gitignore.startswith("*.log\n")
    pyproject = (repo / "pyproject.toml").read_text()
    assert pyproject.startswith('[project]\nname = "mine"\n# keep me\n')
    assert "[tool.artifactctl]" in pyproject


def test_gitignore_ignores_test_runs_and_backups_but_nothing_else(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    invoke(repo, "init")
    paths = {
        "artifacts/tests/test_20260101_000000_abcdef/run.json": True,
        "artifacts/reference/healthy_cluster_avg.csv.local-20261123T101500Z": True,
        ".artifactctl/backups/20261123T101500Z/artifacts/reference/a.csv": True,
        "artifacts/reference/healthy_cluster_avg.csv": False,
        "artifacts/models/production/ledger.jsonl": False,
        "artifacts/experiments/v2-001/metrics.json": False,
        "notes.local-draft.txt": False,
        "params.yaml": False,
    }
    for rel in paths:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("x\n")
    proc = subprocess.run(["git", "check-ignore", *paths], cwd=repo, capture_output=True, text=True)
    ignored = set(proc.stdout.split())
    assert ignored == {p for p, want in paths.items() if want}


def test_init_outside_a_repository_fails_with_exit_3(tmp_path: Path) -> None:
    result = invoke(tmp_path, "init")
    assert result.exit_code == 3


def test_init_commits_cleanly(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    invoke(repo, "init")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "artifactctl init")
    invoke(repo, "init")
    assert git(repo, "status", "--porcelain").stdout == ""


def test_init_leaves_no_empty_folder_git_cannot_keep(tmp_path: Path) -> None:
    """A new folder gets a .gitkeep, so a clone has the tree too; ignored folders get none."""
    repo = init_repo(tmp_path / "repo")
    doc = json.loads(invoke(repo, "init", "--json").stdout)
    assert "artifacts/data/.gitkeep" in doc["gitkeep"]
    assert "artifacts/tests/.gitkeep" not in doc["gitkeep"]  # git-ignored: nothing to keep
    empty = [
        p.relative_to(repo).as_posix()
        for p in (repo / "artifacts").rglob("*")
        if p.is_dir() and not any(p.iterdir())
    ]
    assert empty == ["artifacts/tests"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    for rel in doc["created"]:
        assert (clone / rel).is_dir() or rel == "artifacts/tests", rel


def test_init_prints_each_line_once_and_plainly(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    out = invoke(repo, "init").stdout
    assert "wrote default [tool.artifactctl] settings to pyproject.toml" in out
    assert "  " not in out
