"""`artifactctl preserve add|remove|list` and `artifactctl remote list|add|default`."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import PROJECT, init_repo, invoke

from artifactctl.config import load_settings
from artifactctl.sync.preserve import matches

REFERENCE = "artifacts/reference/healthy_cluster_avg.csv"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    shutil.copy2(PROJECT / "pyproject.toml", path / "pyproject.toml")
    return path


def test_preserve_add_then_remove_keeps_pyproject_byte_identical(repo: Path) -> None:
    original = (repo / "pyproject.toml").read_bytes()
    result = invoke(repo, "preserve", "add", "artifacts/reference/other.csv")
    assert result.exit_code == 0, result.output
    assert load_settings(repo).preserve == [REFERENCE, "artifacts/reference/other.csv"]
    text = (repo / "pyproject.toml").read_text()
    assert "# --- artifactctl's own settings" in text  # comments survive
    again = invoke(repo, "preserve", "add", "artifacts/reference/other.csv")
    assert again.exit_code == 0 and "already preserved" in again.stderr
    assert invoke(repo, "preserve", "remove", "artifacts/reference/other.csv").exit_code == 0
    assert (repo / "pyproject.toml").read_bytes() == original


def test_preserve_add_creates_the_table_when_absent(tmp_path: Path) -> None:
    path = init_repo(tmp_path / "bare")
    (path / "pyproject.toml").write_text('[project]\nname = "x"  # keep me\n')
    assert invoke(path, "preserve", "add", "data/*.csv").exit_code == 0
    assert load_settings(path).preserve == ["data/*.csv"]
    assert 'name = "x"  # keep me' in (path / "pyproject.toml").read_text()


def test_preserve_remove_unknown_rule_is_usage_error(repo: Path) -> None:
    result = invoke(repo, "preserve", "remove", "nope.csv")
    assert result.exit_code == 2
    assert "is not a preserve rule" in result.stderr


def test_preserve_rule_outside_repository_is_usage_error(repo: Path) -> None:
    assert invoke(repo, "preserve", "add", "../elsewhere.csv").exit_code == 2
    assert invoke(repo, "preserve", "add", "/etc/passwd").exit_code == 2


@pytest.mark.slow
def test_preserve_list_says_whether_local_copy_differs(pipeline_repo: Path) -> None:
    invoke(pipeline_repo, "preserve", "add", "artifacts/nothing/*.csv")
    doc = json.loads(invoke(pipeline_repo, "preserve", "list", "--json").stdout)
    rules = {r["rule"]: r for r in doc["rules"]}
    assert rules[REFERENCE]["differs"] is False
    assert rules[REFERENCE]["files"] == [{"path": REFERENCE, "state": "ok", "tracked_by": "dvc"}]
    assert rules["artifacts/nothing/*.csv"]["files"] == []
    (pipeline_repo / REFERENCE).write_text("cluster,avg\nmine,1\n")
    doc = json.loads(invoke(pipeline_repo, "preserve", "list", "--json").stdout)
    assert {r["rule"]: r for r in doc["rules"]}[REFERENCE]["differs"] is True
    human = invoke(pipeline_repo, "preserve", "list")
    assert "modified" in human.stdout and "no file matches" in human.stdout


segment = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
paths = st.lists(segment, min_size=1, max_size=4).map("/".join)


@given(rule=paths, below=paths)
def test_rule_covers_itself_and_everything_below_it(rule: str, below: str) -> None:
    assert matches(rule, rule)
    assert matches(f"{rule}/{below}", rule)
    assert not matches(rule + "x", rule) or "*" in rule


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rule=paths)
def test_added_rule_round_trips_through_pyproject(repo: Path, rule: str) -> None:
    before = (repo / "pyproject.toml").read_bytes()
    try:
        # `--` ends the options, so a rule such as "-0" is taken as a path
        assert invoke(repo, "preserve", "add", "--", rule).exit_code == 0
        assert rule in load_settings(repo).preserve
        assert invoke(repo, "preserve", "remove", "--", rule).exit_code == 0
        assert (repo / "pyproject.toml").read_bytes() == before
    finally:
        (repo / "pyproject.toml").write_bytes(before)


def test_remote_add_list_default(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = invoke(repo, "remote", "add", "backup", str(store))
    assert result.exit_code == 0, result.output
    doc = json.loads(invoke(repo, "remote", "list", "--json").stdout)
    got = {r["name"]: r for r in doc["remotes"]}
    assert got["backup"]["kind"] == "local" and got["backup"]["default"] is False
    assert got["local"]["default"] is True
    assert invoke(repo, "remote", "default", "backup").exit_code == 0
    assert invoke(repo, "remote", "default").stdout.strip() == "backup"
    assert "remote = backup" in (repo / ".dvc/config").read_text()


def test_remote_add_puts_credentials_only_in_config_local(repo: Path) -> None:
    result = invoke(
        repo,
        "remote",
        "add",
        "prod",
        "s3://bucket/prefix",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--access-key-id",
        "AKIDEXAMPLE",
        "--secret-access-key",
        "s3cr3t-value",
    )
    assert result.exit_code == 0, result.output
    tracked = (repo / ".dvc/config").read_text()
    assert "s3://bucket/prefix" in tracked and "http://127.0.0.1:9" in tracked
    assert "AKIDEXAMPLE" not in tracked and "s3cr3t-value" not in tracked
    local = (repo / ".dvc/config.local").read_text()
    assert "AKIDEXAMPLE" in local and "s3cr3t-value" in local
    doc = json.loads(invoke(repo, "remote", "list", "--json").stdout)
    prod = next(r for r in doc["remotes"] if r["name"] == "prod")
    assert prod["credentials"] == "config.local" and prod["endpoint"] == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "args",
    [
        ("remote", "add", "bad name", "/tmp/x"),
        ("remote", "add", "local", "/tmp/x"),
        ("remote", "add", "half", "s3://b/p", "--access-key-id", "only"),
        ("remote", "default", "nope"),
    ],
)
def test_remote_bad_input_is_exit_2(repo: Path, args: tuple[str, ...]) -> None:
    result = invoke(repo, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:")
