"""Metadata is untrusted input (invariant 8): the attacks of issue 12, each contained.

Every test edits git-tracked metadata the way an attacker with write access to a branch
would, runs the command that reads it, and checks: exit 2 with one error line naming the
file, nothing changed outside the repository (a sentinel folder beside it), nothing moved.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from support import invoke, snapshot

PROD = "artifacts/models/production"


@pytest.fixture
def sentinel(pipeline_repo: Path) -> Path:
    """A folder beside the repository that no command may touch."""
    victim = pipeline_repo.parent / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text("precious\n")
    (victim / "sub" / "model.joblib").write_text("precious too\n")
    return victim


def refused(repo: Path, *args: str, code: int = 2, naming: str = "") -> str:
    result = invoke(repo, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "internal error" not in result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert naming in first, result.stderr
    return result.stderr


def untouched(victim: Path) -> None:
    assert snapshot(victim) == {"keep.txt": _SHA_PRECIOUS, "sub/model.joblib": _SHA_TOO}
    assert sorted(p.name for p in victim.rglob("*")) == ["keep.txt", "model.joblib", "sub"]


_SHA_PRECIOUS = __import__("hashlib").sha256(b"precious\n").hexdigest()
_SHA_TOO = __import__("hashlib").sha256(b"precious too\n").hexdigest()


def _hostile_paths(victim: Path, depth: int) -> list[str]:
    return [str(victim), "../" * depth + "victim"]


# 1. unarchive deleted any directory named in archived.json


@pytest.mark.parametrize("field", ["id", "from.model", "files.model"])
def test_unarchive_refuses_an_archived_record_pointing_outside(
    pipeline_repo: Path, sentinel: Path, field: str
) -> None:
    assert invoke(pipeline_repo, "archive", "v2-002", "--reason", "old").exit_code == 0
    record_path = pipeline_repo / "artifacts/archive/v2-002/archived.json"
    for hostile in _hostile_paths(sentinel, 1):
        record = json.loads(record_path.read_text())
        if field == "id":
            record["id"] = hostile
        elif field == "files.model":  # a clone without the folder rebuilds it from these
            md5 = next(iter(record["files"]["model"].values()))
            record["files"]["model"] = {f"{hostile}/keep.txt": md5}
        else:
            record["from"]["model"] = hostile
        record_path.write_text(json.dumps(record))
        params = (pipeline_repo / "params.yaml").read_bytes()
        refused(pipeline_repo, "unarchive", "v2-002", naming="archived.json")
        untouched(sentinel)
        assert (pipeline_repo / "params.yaml").read_bytes() == params
        assert (pipeline_repo / "artifacts/archive/v2-002/model").is_dir()


# 2. where champion / load_champion wrote any file named in the ledger


def test_where_champion_refuses_ledger_files_outside_the_champion_folder(
    pipeline_repo: Path, sentinel: Path
) -> None:
    import shutil

    import artifactctl
    from artifactctl.errors import UsageError

    assert invoke(pipeline_repo, "promote", "v2-006").exit_code == 0
    ledger = pipeline_repo / PROD / "ledger.jsonl"
    original = ledger.read_text()
    for hostile in [str(sentinel / "keep.txt"), "../../../../../victim/keep.txt"]:
        event = json.loads(original.splitlines()[-1])
        event["files"][hostile] = event["files"]["model.joblib"]
        ledger.write_text(json.dumps(event) + "\n")
        shutil.rmtree(pipeline_repo / PROD / "champion_current", ignore_errors=True)
        refused(pipeline_repo, "where", "champion", naming="ledger.jsonl line 1")
        with pytest.raises(UsageError, match=r"ledger\.jsonl line 1"):
            artifactctl.load_champion(start=pipeline_repo)
        untouched(sentinel)


def test_ledger_events_of_the_wrong_shape_are_one_line(pipeline_repo: Path) -> None:
    ledger = pipeline_repo / PROD / "ledger.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    bad = [
        {"event": "promote", "id": 5},
        {"event": "promote", "id": "v2-006", "phase": "../x", "files": {}, "event_id": "e"},
        {"event": "promote", "id": "v2-006", "phase": "candidates", "files": [], "event_id": "e"},
        {"event": "promote", "id": "v2-006", "phase": "candidates", "files": {"a": "../x"}},
        {"event": "rollback", "id": "v2-006", "from": ["x"]},
    ]
    for event in bad:
        ledger.write_text(json.dumps(event) + "\n")
        for args in (["history"], ["list"], ["where", "champion"]):
            refused(pipeline_repo, *args, naming="ledger.jsonl line 1")


# 3. pull created files outside the repository from dvc.lock output paths


@pytest.mark.parametrize("force", [False, True])
def test_pull_refuses_dvc_lock_outputs_outside_the_repository(
    pipeline_repo: Path, sentinel: Path, force: bool
) -> None:
    lock_path = pipeline_repo / "dvc.lock"
    original = yaml.safe_load(lock_path.read_text())
    for hostile in [str(sentinel / "keep.txt"), "../victim/keep.txt", "../victim/new"]:
        lock = json.loads(json.dumps(original))
        lock["stages"]["generate"]["outs"][0]["path"] = hostile
        lock_path.write_text(yaml.safe_dump(lock))
        before = sorted(p.name for p in pipeline_repo.parent.iterdir())
        args = ["pull", "--force"] if force else ["pull"]
        refused(pipeline_repo, *args, naming="dvc.lock: output path")
        refused(pipeline_repo, "status", naming="dvc.lock: output path")
        untouched(sentinel)
        assert sorted(p.name for p in pipeline_repo.parent.iterdir()) == before


def test_dvc_lock_entries_of_the_wrong_type_are_one_line(pipeline_repo: Path) -> None:
    lock_path = pipeline_repo / "dvc.lock"
    original = yaml.safe_load(lock_path.read_text())
    for hostile in [
        5,
        None,
        {"path": 5},
        {"path": "a", "md5": "../../x"},
        {"path": "a", "size": "x"},
    ]:
        lock = json.loads(json.dumps(original))
        lock["stages"]["generate"]["outs"][0] = hostile
        lock_path.write_text(yaml.safe_dump(lock))
        for args in (["status"], ["verify"], ["pull"]):
            refused(pipeline_repo, *args, naming="dvc.lock")


def test_a_hostile_phase_in_params_yaml_is_refused(pipeline_repo: Path, sentinel: Path) -> None:
    params = pipeline_repo / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("phase: candidates", "phase: ../../../victim", 1))
    refused(pipeline_repo, "where", "v2-002", naming="params.yaml")
    refused(pipeline_repo, "list", naming="params.yaml")
    untouched(sentinel)


# 4. load_champion ran crash recovery without the repository lock


def test_load_champion_never_recovers_a_journal_held_by_a_live_promote(
    pipeline_repo: Path,
) -> None:
    from crashsupport import start_paused

    import artifactctl
    from artifactctl.errors import UsageError

    journals = pipeline_repo / ".dvc/tmp/artifactctl/journal"
    run = start_paused(pipeline_repo, "promote-journal", "promote", "v2-006")
    try:
        # the promote is live (it holds the lock): its journal is not ours to complete
        with pytest.raises(UsageError, match="no champion"):
            artifactctl.load_champion(start=pipeline_repo)
        assert next(p.name for p in journals.iterdir()).startswith("registry-")
    finally:
        run.kill()
    assert artifactctl.load_champion(start=pipeline_repo).id == "v2-006"  # now recovered
    assert not any(journals.iterdir())


# 8. save_run wrote through a symlinked tests/NAME or runs folder


@pytest.mark.parametrize("linked", ["tests/t1", "tests/t1/runs"])
def test_save_run_never_writes_through_a_linked_folder(
    pipeline_repo: Path, sentinel: Path, linked: str
) -> None:
    from artifactctl import save_run
    from artifactctl.errors import UsageError

    link = pipeline_repo / "artifacts" / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(sentinel, target_is_directory=True)
    with pytest.raises(UsageError, match="symbolic link"):
        save_run({"a": 1}, run_id="r1", mode="test", test_name="t1", start=pipeline_repo)
    untouched(sentinel)


# 9. FIFOs hung commands forever


def _no_hang(repo: Path, *args: str, codes: tuple[int, ...] = (0, 1, 2)) -> str:
    from support import artifactctl

    result = artifactctl(repo, *args, timeout=120)  # a hang fails here, not forever
    assert result.returncode in codes, (args, result.stdout, result.stderr)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return result.stdout + result.stderr


def test_a_fifo_in_place_of_a_tracked_file_is_reported_not_read(pipeline_repo: Path) -> None:
    import os

    target = pipeline_repo / "artifacts/data/train.csv"
    target.unlink()
    os.mkfifo(target)
    for args in (["status", "--json"], ["verify", "--json"], ["verify", "--deep", "--json"]):
        assert "not a regular file" in _no_hang(pipeline_repo, *args, codes=(1,)), args


def test_a_fifo_named_run_json_or_as_a_run_name_is_not_waited_on(pipeline_repo: Path) -> None:
    import os

    run = pipeline_repo / "artifacts/tests/t1"
    run.mkdir(parents=True)
    os.mkfifo(run / "run.json")
    _no_hang(pipeline_repo, "verify")
    _no_hang(pipeline_repo, "show-run", "t1")
    _no_hang(pipeline_repo, "clean")
    _no_hang(pipeline_repo, "clean", "--force")
    assert stat.S_ISFIFO(os.lstat(run / "run.json").st_mode)  # reported, never read or deleted
    os.mkfifo(pipeline_repo / "artifacts/tests/t2")
    assert "not a" in _no_hang(pipeline_repo, "run", "-n", "t2", codes=(2,))


# Bad input that ended in "internal error" (exit 3): one line and exit 2 (or 3 for a remote)


def test_bad_input_is_one_line_never_an_internal_error(pipeline_repo: Path) -> None:
    refused(pipeline_repo, "show-run", "a" * 300, naming="at most 100")
    refused(pipeline_repo, "status", "/etc", naming="outside the repository")
    tests = pipeline_repo / "artifacts/tests"
    refused(pipeline_repo, "run", "-n", "t3", "-S", "experiments.v2-001.phase=../../x")
    assert not (tests / "t3").exists()  # refused before run.json was written
    saved = tests / "t4/runs/r1"
    saved.mkdir(parents=True)
    (saved / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    refused(pipeline_repo, "show-run", "r1", code=1, naming="not valid JSON")
    assert invoke(pipeline_repo, "verify").exit_code == 1
    params = pipeline_repo / "params.yaml"
    params.write_text(params.read_text().replace("  v2-001:", "  1:", 1))
    refused(pipeline_repo, "list", naming="params.yaml: experiment ID must be a string")
    (pipeline_repo / "pyproject.toml").write_text("tool = 5\n")
    refused(pipeline_repo, "status", naming="'tool' must be a table")


def test_artifactctl_debug_zero_is_off(pipeline_repo: Path) -> None:
    import os

    from support import artifactctl

    env = {**os.environ, "ARTIFACTCTL_DEBUG": "0"}
    result = artifactctl(pipeline_repo, "show-run", "nope", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    env["ARTIFACTCTL_DEBUG"] = "1"
    assert "Traceback" in artifactctl(pipeline_repo, "show-run", "nope", env=env).stderr


def test_status_cloud_against_an_unreachable_s3_endpoint_names_the_remote(
    pipeline_repo: Path,
) -> None:
    import os

    from support import artifactctl, dvc

    dvc(pipeline_repo, "remote", "add", "s3down", "s3://bucket/x")
    dvc(pipeline_repo, "remote", "modify", "s3down", "endpointurl", "http://127.0.0.1:9")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    result = artifactctl(pipeline_repo, "status", "--cloud", "--remote", "s3down", env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("error: checking the remote failed"), result.stderr
    assert "internal error" not in result.stderr
