"""Every `--json` document names its schema; an error under `--json` is a JSON document too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import BIN, init_repo, invoke
from test_cli import _commands

CURATED = "artifacts/reference/healthy_cluster_avg.csv"

# (argv, exit codes that count as success for this step), run in this order on one repository:
# the success paths the other tests exercise, each with --json.
STEPS: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
    (("init",), (0,)),
    (("status",), (0, 1)),
    (("verify",), (0,)),
    (("list",), (0,)),
    (("show", "v2-006"), (0,)),
    (("promote", "v2-006", "--dry-run"), (0,)),
    (("promote", "v2-006"), (0,)),
    (("promote", "v2-002"), (0,)),
    (("rollback", "--reason", "schema test"), (0,)),
    (("history",), (0,)),
    (("archive", "v2-001", "--reason", "schema test"), (0,)),
    (("unarchive", "v2-001"), (0,)),
    (("new", "--model", "ridge"), (0,)),
    (("run", "--name", "schema", "--exp", "v2-001"), (0,)),
    (("show-run", "schema"), (0,)),
    (("keep", "schema"), (0,)),
    (("clean",), (0,)),
    (("clean", "--cache"), (0,)),
    (("refresh", "--exp", "v2-001", "--force"), (0,)),
    (("push",), (0,)),
    (("pull",), (0,)),
    (("preserve", "list"), (0,)),
    (("pull", "--prefer-remote", CURATED), (0,)),  # after a local edit: a backup
    (("preserve", "backups"), (0,)),
    (("preserve", "restore", CURATED), (0,)),
    (("remote", "list"), (0,)),
]


def test_every_json_document_has_a_schema_key(pipeline_repo: Path) -> None:
    schemas = {}
    for argv, codes in STEPS:
        if argv[:2] == ("pull", "--prefer-remote"):
            with open(pipeline_repo / CURATED, "a") as fh:
                fh.write("edited,by,hand\n")
        result = invoke(pipeline_repo, *argv, "--json")
        assert result.exit_code in codes, (argv, result.stdout, result.stderr)
        doc = json.loads(result.stdout)  # one document, nothing else on stdout
        assert isinstance(doc.get("schema"), str), argv
        assert doc["schema"].startswith("artifactctl.") and doc["schema"].endswith("/1"), argv
        schemas[" ".join(argv)] = doc["schema"]
    assert schemas["list"] == "artifactctl.list/1"
    assert schemas["run --name schema --exp v2-001"] == "artifactctl.run_report/1"
    assert schemas["refresh --exp v2-001 --force"] == "artifactctl.run_report/1"
    assert "artifactctl.error/1" not in schemas.values()
    # every command that takes --json was run above
    with_json = {name for name, opts in _commands().items() if "--json" in opts}
    exercised = {
        " ".join(argv[:2]) if argv[0] in ("preserve", "remote") else argv[0] for argv, _ in STEPS
    }
    assert sorted(with_json - exercised) == []


def test_an_error_under_json_is_one_document_on_stdout_and_a_line_on_stderr(
    tmp_path: Path,
) -> None:
    repo = init_repo(tmp_path / "repo")
    result = invoke(repo, "show", "v2-999", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc == {
        "schema": "artifactctl.error/1",
        "error": doc["error"],
        "hint": doc["hint"],
        "exit_code": 2,
    }
    assert "unknown experiment 'v2-999'" in doc["error"] and "artifactctl list" in doc["hint"]
    assert result.stderr.startswith("error: unknown experiment 'v2-999'")


def test_usage_and_environment_errors_under_json_are_documents_too(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    for argv, code in (
        (("status", "--bogus", "--json"), 2),  # click's own usage error
        (("show", "--json"), 2),  # a missing argument
    ):
        proc = subprocess.run(
            [BIN / "artifactctl", *argv], cwd=repo, capture_output=True, text=True
        )
        assert proc.returncode == code, argv
        doc = json.loads(proc.stdout)
        assert doc["schema"] == "artifactctl.error/1" and doc["exit_code"] == code
        assert doc["hint"] and proc.stderr.startswith("error:")
    outside = invoke(tmp_path, "list", "--json")  # not a repository: exit 3
    assert outside.exit_code == 3
    assert json.loads(outside.stdout)["exit_code"] == 3


def test_without_json_an_error_leaves_stdout_empty(tmp_path: Path) -> None:
    result = invoke(init_repo(tmp_path / "repo"), "show", "v2-999")
    assert result.exit_code == 2 and result.stdout == ""
