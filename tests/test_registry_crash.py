"""Invariant 5 for the registry: SIGKILL at every named step of promote, rollback, archive
and unarchive leaves the old state or the new one, and the next command completes it.
Two concurrent promotes are serialised by the repository lock; a promote computing its
gates holds no lock, so a pull meanwhile succeeds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from crashsupport import kill_at, start_paused
from support import BIN, artifactctl, invoke, snapshot
from syncsupport import TRAIN, publish

from artifactctl.project import find_repo
from artifactctl.registry.ledger import read_events, replay

pytestmark = pytest.mark.slow

PROD = "artifacts/models/production"
MODEL = {
    "v2-001": "artifacts/models/baseline/v2-001",
    "v2-002": "artifacts/models/candidates/v2-002",
    "v2-006": "artifacts/models/candidates/v2-006",
}


def champions(repo: Path) -> tuple[str | None, str | None]:
    state = replay(read_events(find_repo(repo)))
    return (
        state.current.id if state.current else None,
        state.previous.id if state.previous else None,
    )


def recover_and_check(repo: Path) -> tuple[str | None, str | None]:
    """Run the next command (recovery happens first), then check copies match the ledger."""
    result = invoke(repo, "history", "--json")
    assert result.exit_code == 0, result.stderr
    journal = repo / ".dvc/tmp/artifactctl/journal"
    assert not journal.exists() or not os.listdir(journal)
    assert not (repo / PROD / ".staging").exists()
    current, previous = champions(repo)
    for exp_id, slot in ((current, "champion_current"), (previous, "champion_previous")):
        if exp_id is None:
            assert not (repo / PROD / slot).exists()
        else:
            assert snapshot(repo / PROD / slot) == snapshot(repo / MODEL[exp_id])
    return current, previous


PROMOTE_STEPS = [
    ("promote-gates", "old"),
    ("promote-journal", "new"),
    ("promote-ledger", "new"),
    ("staged-champion_current", "new"),
    ("staged-champion_previous", "new"),
    ("removed-champion_current", "new"),
    ("swapped-champion_current", "new"),
    ("swapped-champion_previous", "new"),
]


@pytest.mark.parametrize(("step", "expect"), PROMOTE_STEPS)
def test_promote_killed_at_any_step_leaves_old_or_new_state(
    pipeline_repo: Path, step: str, expect: str
) -> None:
    assert invoke(pipeline_repo, "promote", "v2-006").exit_code == 0
    kill_at(pipeline_repo, step, "promote", "v2-002")
    want = ("v2-006", None) if expect == "old" else ("v2-002", "v2-006")
    assert recover_and_check(pipeline_repo) == want
    promotions = [e["id"] for e in read_events(find_repo(pipeline_repo))]
    assert promotions == (["v2-006"] if expect == "old" else ["v2-006", "v2-002"])
    test = pipeline_repo / "artifacts/experiments/promotion_tests/v2-002_vs_v2-006.json"
    assert test.exists() == (expect == "new")


ROLLBACK_STEPS = [
    "rollback-journal",
    "rollback-ledger",
    "staged-champion_current",
    "removed-champion_current",
    "swapped-champion_current",
    "removed-champion_previous",
]


@pytest.mark.parametrize("step", ROLLBACK_STEPS)
def test_rollback_killed_at_any_step_is_completed(pipeline_repo: Path, step: str) -> None:
    for exp_id in ("v2-006", "v2-002"):
        assert invoke(pipeline_repo, "promote", exp_id).exit_code == 0
    kill_at(pipeline_repo, step, "rollback")
    result = invoke(pipeline_repo, "where", "champion")
    assert "recovered an interrupted operation" in result.stderr
    assert recover_and_check(pipeline_repo) == ("v2-006", None)
    assert [e["event"] for e in read_events(find_repo(pipeline_repo))][-1] == "rollback"


ARCHIVE_STEPS = [
    "archive-journal",
    "archive-moved-model",
    "archive-moved-experiment",
    "archive-params",
    "archive-lock",
    "archive-manifest",
]
UNARCHIVE_STEPS = ["unarchive-journal", "unarchive-moved", "unarchive-yaml", "unarchive-ledger"]


def assert_archived(repo: Path, model: dict[str, str]) -> None:
    assert "v2-001" not in (repo / "params.yaml").read_text()
    assert "v2-001" not in (repo / "dvc.lock").read_text()
    assert not (repo / MODEL["v2-001"]).exists()
    assert not (repo / "artifacts/experiments/v2-001").exists()
    assert snapshot(repo / "artifacts/archive/v2-001/model") == model
    manifest = (repo / "artifacts/archive/MANIFEST.md").read_text()
    assert manifest.count("| archived | v2-001 |") == 1


@pytest.mark.parametrize("step", ARCHIVE_STEPS)
def test_archive_killed_at_any_step_is_completed(pipeline_repo: Path, step: str) -> None:
    params = (pipeline_repo / "params.yaml").read_bytes()
    lock = (pipeline_repo / "dvc.lock").read_bytes()
    model = snapshot(pipeline_repo / MODEL["v2-001"])
    kill_at(pipeline_repo, step, "archive", "v2-001", "--reason", "crash test")
    recover_and_check(pipeline_repo)
    assert_archived(pipeline_repo, model)
    assert [e["event"] for e in read_events(find_repo(pipeline_repo))] == ["archive"]
    # and the completed archive still round-trips byte for byte
    assert invoke(pipeline_repo, "unarchive", "v2-001").exit_code == 0
    assert (pipeline_repo / "params.yaml").read_bytes() == params
    assert (pipeline_repo / "dvc.lock").read_bytes() == lock


@pytest.mark.parametrize("step", UNARCHIVE_STEPS)
def test_unarchive_killed_at_any_step_is_completed(pipeline_repo: Path, step: str) -> None:
    params = (pipeline_repo / "params.yaml").read_bytes()
    lock = (pipeline_repo / "dvc.lock").read_bytes()
    model = snapshot(pipeline_repo / MODEL["v2-001"])
    assert invoke(pipeline_repo, "archive", "v2-001", "--reason", "x").exit_code == 0
    kill_at(pipeline_repo, step, "unarchive", "v2-001")
    recover_and_check(pipeline_repo)
    assert (pipeline_repo / "params.yaml").read_bytes() == params
    assert (pipeline_repo / "dvc.lock").read_bytes() == lock
    assert snapshot(pipeline_repo / MODEL["v2-001"]) == model
    assert not (pipeline_repo / "artifacts/archive/v2-001").exists()
    manifest = (pipeline_repo / "artifacts/archive/MANIFEST.md").read_text()
    assert manifest.count("| unarchived | v2-001 |") == 1
    assert [e["event"] for e in read_events(find_repo(pipeline_repo))] == ["archive", "unarchive"]


def test_concurrent_promotes_are_serialised_not_interleaved(pipeline_repo: Path) -> None:
    first = start_paused(pipeline_repo, "promote-ledger", "promote", "v2-006", seconds=4)
    # A command that cannot wait long fails with exit 3 and says why.
    quick = artifactctl(
        pipeline_repo, "promote", "v2-002", env={**os.environ, "ARTIFACTCTL_LOCK_TIMEOUT": "0.3"}
    )
    assert quick.returncode == 3
    assert "in progress" in quick.stderr or "locked" in quick.stderr
    # One that waits runs after the first has finished, against the new champion.
    started = time.monotonic()
    second = artifactctl(
        pipeline_repo, "promote", "v2-002", env={**os.environ, "ARTIFACTCTL_LOCK_TIMEOUT": "60"}
    )
    assert first.wait(timeout=60) == 0
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - started > 1
    events = read_events(find_repo(pipeline_repo))
    assert [(e["id"], e["replaced"]) for e in events] == [("v2-006", None), ("v2-002", "v2-006")]
    assert recover_and_check(pipeline_repo) == ("v2-002", "v2-006")
    doc = json.loads(
        (pipeline_repo / "artifacts/experiments/promotion_tests/v2-002_vs_v2-006.json").read_text()
    )
    assert doc["baseline_role"] == "champion"


def test_promote_killed_at_arbitrary_moments_never_leaves_a_mixed_state(
    pipeline_repo: Path,
) -> None:
    """Un-hooked SIGKILLs at spread-out delays (start-up, gates, copies, or after the end)."""
    assert invoke(pipeline_repo, "promote", "v2-006").exit_code == 0
    for delay in (0.4, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.2, 3.0):
        proc = subprocess.Popen(
            [str(BIN / "artifactctl"), "promote", "v2-002"],
            cwd=pipeline_repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = recover_and_check(pipeline_repo)
        assert state in {("v2-006", None), ("v2-002", "v2-006")}
        if state == ("v2-002", "v2-006"):
            assert invoke(pipeline_repo, "rollback").exit_code == 0
            assert recover_and_check(pipeline_repo) == ("v2-006", None)


def test_committed_promote_whose_files_vanished_does_not_block_other_commands(
    pipeline_repo: Path,
) -> None:
    import shutil

    assert invoke(pipeline_repo, "promote", "v2-006").exit_code == 0
    kill_at(pipeline_repo, "promote-ledger", "promote", "v2-002")
    shutil.rmtree(pipeline_repo / MODEL["v2-002"])
    shutil.rmtree(find_repo(pipeline_repo).cache_dir)
    result = invoke(pipeline_repo, "history", "--json")
    assert result.exit_code == 0
    assert "cannot rebuild" in " ".join(result.stderr.split())
    assert champions(pipeline_repo) == ("v2-002", "v2-006")
    where = invoke(pipeline_repo, "where", "champion")
    assert where.exit_code == 1 and "dvc pull" in where.stderr


def test_a_promote_computing_its_gates_does_not_make_a_concurrent_pull_fail(
    pipeline_repo: Path,
) -> None:
    publish(pipeline_repo)
    (pipeline_repo / TRAIN).unlink()  # something for the pull to do
    gates = start_paused(pipeline_repo, "promote-gates-computing", "promote", "v2-006")
    try:
        # A pull that could not wait for the lock would fail fast with exit 3.
        env = {"ARTIFACTCTL_LOCK_TIMEOUT": "1"}
        pulled = invoke(pipeline_repo, "pull", "--json", env=env)
        assert pulled.exit_code == 0, pulled.stderr
        assert (pipeline_repo / TRAIN).is_file()
        assert invoke(pipeline_repo, "push", env=env).exit_code == 0
    finally:
        gates.kill()
    # The promote, killed before it took the lock, recorded nothing.
    assert read_events(find_repo(pipeline_repo)) == []
    assert recover_and_check(pipeline_repo) == (None, None)
    assert not (pipeline_repo / "artifacts/experiments/promotion_tests").exists()
