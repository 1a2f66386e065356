"""Crash journals and the repository lock: recovery runs only when no live command owns it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import init_repo, invoke

from artifactctl import journal
from artifactctl.errors import LockHeld
from artifactctl.project import find_repo


def recover_demo(project, entry):  # type: ignore[no-untyped-def]
    """A recovery that completes the demo op: writes the file its intent names."""
    target = project.root / entry.data["write"]
    target.write_text("completed\n")
    entry.finish()
    return f"completed demo write of {entry.data['write']}"


@pytest.fixture
def demo_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(journal.RECOVERY, "demo", "test_journal:recover_demo")


def test_a_command_completes_an_interrupted_operation_and_says_so(
    tmp_path: Path, demo_op: None
) -> None:
    repo = init_repo(tmp_path / "repo")
    journal.Journal.begin(find_repo(repo), "demo", {"write": "done.txt"})  # ... then "crash"
    result = invoke(repo, "status")
    assert result.exit_code == 0
    assert (repo / "done.txt").read_text() == "completed\n"
    assert "recovered an interrupted operation: completed demo write of done.txt" in result.stderr
    assert journal.pending(find_repo(repo)) == []


def test_a_journal_owned_by_a_live_command_is_left_alone(tmp_path: Path, demo_op: None) -> None:
    repo = init_repo(tmp_path / "repo")
    project = find_repo(repo)
    journal.Journal.begin(project, "demo", {"write": "done.txt"})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from artifactctl.project import find_repo\n"
            "with find_repo(sys.argv[1]).lock(recover=False):\n"
            "    print('locked', flush=True); time.sleep(30)\n",
            str(repo),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = invoke(repo, "status")
        assert result.exit_code == 0
        assert not (repo / "done.txt").exists()
        assert len(journal.pending(project)) == 1
        held = r"locked by another artifactctl command \(pid \d+\)"
        with pytest.raises(LockHeld, match=held), project.lock(timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    # the holder died (SIGKILL releases its flock): the next lock recovers
    with project.lock(timeout=5):
        assert (repo / "done.txt").read_text() == "completed\n"


def test_a_journal_without_a_durable_intent_is_discarded(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    project = find_repo(repo)
    half = journal.journal_root(project) / "demo-deadbeef"
    half.mkdir(parents=True)
    (half / "intent.json.tmp").write_text("{")
    assert journal.pending(project) == []
    assert not half.exists()


def test_lock_waits_for_a_short_holder(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from artifactctl.project import find_repo\n"
            "with find_repo(sys.argv[1]).lock():\n"
            "    print('locked', flush=True); time.sleep(0.5)\n",
            str(repo),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    start = time.monotonic()
    with find_repo(repo).lock(timeout=20):
        waited = time.monotonic() - start
    holder.wait()
    assert waited > 0.1
