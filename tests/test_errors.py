"""Every error reaches the user as one line and a hint that works as written, never a traceback.

The argv lists are the error paths the other tests exercise (registry refusals, bad input,
usage errors); each must print exactly `error: ...` then `hint: ...` on stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support import BIN, init_repo, invoke, point_remote
from test_cli import _commands

# On the reproduced pipeline with v2-006 promoted: (argv, exit code).
REGISTRY_ERRORS = [
    (("promote", "v2-999"), 2),
    (("show", "v2-999"), 2),
    (("promote", "v2-002", "--force"), 2),  # --force without --reason
    (("promote", "v2-006"), 2),  # already the champion
    (("rollback",), 2),  # no previous champion
    (("archive", "v2-006", "--reason", "x"), 2),  # the champion
    (("archive", "v2-001", "--reason", " "), 2),
    (("unarchive", "v2-001"), 2),  # not archived
    (("where", "v2-999"), 2),
    (("where", "../x"), 2),
    (("run", "--mode", "production", "--name", "x"), 2),
    (("run", "--mode", "production", "-S", "data.seed=2"), 2),
    (("run", "--mode", "staging"), 2),
    (("run", "--exp", "v2-999"), 2),  # unknown experiment
    (("run", "-S", "nokey"), 2),
    (("refresh", "--exp", "../x"), 2),
    (("new",), 2),
    (("new", "--from", "v2-999"), 2),
    (("new", "--model", "ridge", "--phase", "prod"), 2),
    (("status", "nowhere"), 2),
    (("status", "--cloud", "--remote", "nowhere"), 3),
    (("verify", "nowhere"), 2),
    (("show-run", "nope"), 2),
    (("keep", "nope"), 2),
    (("clean", "--cache", "--keep", "1"), 2),
    (("preserve", "remove", "nope"), 2),
    (("remote", "default", "nope"), 2),
    (("pull", "--prefer-remote", "nowhere.csv"), 2),
]
# Typer/click's own usage errors: one line and a hint too, not click's four-line box.
USAGE_ERRORS = [
    (("status", "--bogus"), 2),
    (("show",), 2),  # missing argument
    (("frobnicate",), 2),  # no such command
    (("promote", "v2-002", "--force", "--reason"), 2),  # option without its value
    (("new", "-m", "ridge"), 2),  # -m is --mode (of run) only
    (("status", "--jobs", "many"), 2),
    (("remote", "add"), 2),
]


@pytest.fixture(scope="module")
def champion_repo(built_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("errors")
    repo = base / "repo"
    shutil.copytree(built_pipeline, repo, symlinks=True)
    point_remote(repo, base / "remote")
    assert invoke(repo, "promote", "v2-006").exit_code == 0
    return repo


def assert_one_line_and_a_hint(stderr: str, argv: tuple[str, ...]) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 2, (argv, stderr)
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), (argv, stderr)
    assert len(lines[1]) > len("hint: ") + 5, (argv, stderr)
    hint = lines[1]
    # a hint that names a command names one that exists
    top = {name.split()[0] for name in _commands()}
    named = set(re.findall(r"`artifactctl ([a-z][a-z-]*)", hint))
    assert named <= top, (argv, hint)
    return hint


def cases(argvs: list[tuple[tuple[str, ...], int]]) -> list:
    return [pytest.param(argv, code, id=" ".join(argv)) for argv, code in argvs]


@pytest.mark.parametrize(("argv", "code"), cases(REGISTRY_ERRORS))
def test_registry_and_input_errors_are_one_line_and_a_hint(
    champion_repo: Path, argv: tuple[str, ...], code: int
) -> None:
    result = invoke(champion_repo, *argv)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert_one_line_and_a_hint(result.stderr, argv)


@pytest.mark.parametrize(("argv", "code"), cases(USAGE_ERRORS))
def test_usage_errors_are_one_line_and_a_hint(
    tmp_path: Path, argv: tuple[str, ...], code: int
) -> None:
    proc = subprocess.run(
        [BIN / "artifactctl", *argv], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stderr
    hint = assert_one_line_and_a_hint(proc.stderr, argv)
    assert "--help`" in hint  # e.g. "see `artifactctl status --help`", which works


def test_hints_of_the_named_refusals_say_what_to_do(champion_repo: Path) -> None:
    def hint(*argv: str) -> str:
        return invoke(champion_repo, *argv).stderr.strip().splitlines()[1]

    assert 'promote v2-002 --force --reason "' in hint("promote", "v2-002", "--force")
    assert "`artifactctl list`" in hint("promote", "v2-999")
    assert "`artifactctl list`" in hint("show", "v2-999")
    assert "`artifactctl list`" in hint("promote", "v2-006")
    assert "--mode test --name x" in hint("run", "--mode", "production", "--name", "x")
    assert "`artifactctl list`" in hint("run", "--exp", "v2-999")


def test_a_params_file_that_is_not_a_mapping_has_a_hint(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "params.yaml").write_text("- just\n- a list\n")
    result = invoke(repo, "list")
    assert result.exit_code == 2
    hint = assert_one_line_and_a_hint(result.stderr, ("list",))
    assert "params.yaml must be a mapping" in result.stderr and "key: value" in hint


def test_an_unsupported_promotion_metric_has_a_hint(champion_repo: Path) -> None:
    result = invoke(
        champion_repo, "promote", "v2-002", env={"ARTIFACTCTL_PROMOTION__METRIC": "accuracy"}
    )
    assert result.exit_code == 2
    hint = assert_one_line_and_a_hint(result.stderr, ("promote",))
    assert "rmse" in hint


def test_outside_a_repository_every_command_has_a_hint(tmp_path: Path) -> None:
    for argv in (("status",), ("list",), ("promote", "v2-001"), ("preserve", "list")):
        result = invoke(tmp_path, *argv)
        assert result.exit_code == 3
        assert_one_line_and_a_hint(result.stderr, argv)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (("--debug", "status"), {}),
        (("status", "--debug"), {}),  # after the command, as the hints write it
        (("status",), {"ARTIFACTCTL_DEBUG": "1"}),
    ],
)
def test_debug_shows_the_traceback_wherever_it_is_asked_for(
    tmp_path: Path, argv: tuple[str, ...], env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [BIN / "artifactctl", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr and "hint:" in proc.stderr


def test_without_debug_there_is_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "ARTIFACTCTL_DEBUG": "0"}
    proc = subprocess.run(
        [BIN / "artifactctl", "status"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
