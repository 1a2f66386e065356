"""A SIGKILL in the middle of `clean --force` leaves every run whole or gone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import BIN, artifactctl, init_repo, snapshot

from artifactctl.clean.retention import TRASH_DIR

pytestmark = pytest.mark.slow

RUNS = 250
FILES = 10


@pytest.fixture(scope="module")
def crash_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    repo = init_repo(tmp_path_factory.mktemp("crash") / "repo")
    tests = repo / "artifacts" / "tests"
    for i in range(RUNS):
        run = tests / f"run{i:04d}"
        (run / "models").mkdir(parents=True)
        for j in range(FILES):
            (run / "models" / f"f{j}.bin").write_bytes(f"{i}-{j}".encode() * 50)
        created = "2026-11-23T00:00:00Z" if i == 0 else f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        (run / "run.json").write_text(json.dumps({"created": created}))
    prod = repo / "artifacts" / "models" / "production"
    prod.mkdir(parents=True)
    (prod / "model.joblib").write_bytes(b"champion" * 1000)
    (tests / "run0001" / "champion.joblib").symlink_to(prod / "model.joblib")
    runs = {p.name: snapshot(p) for p in tests.iterdir()}
    return repo, runs


def _journal(repo: Path) -> Path:
    return repo / ".dvc" / "tmp" / "artifactctl" / "journal"


def journal_started(repo: Path) -> bool:
    """The clean's intent is durable (a journal folder holding intent.json)."""
    root = _journal(repo)
    return root.is_dir() and any((j / "intent.json").exists() for j in root.iterdir())


def trash_exists(repo: Path) -> bool:
    return (repo / "artifacts" / "tests" / TRASH_DIR).exists()


def some_runs_gone(repo: Path) -> bool:
    return len(os.listdir(repo / "artifacts" / "tests")) < RUNS - 50


def all_renamed(repo: Path) -> bool:
    return len(os.listdir(repo / "artifacts" / "tests")) <= 2  # the newest run + the trash


POINTS: dict[str, Callable[[Path], bool]] = {
    "journal written": journal_started,
    "renaming begun": trash_exists,
    "renaming half done": some_runs_gone,
    "emptying the trash": all_renamed,
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_during_clean_force_leaves_runs_whole_or_gone(
    crash_template: tuple[Path, dict[str, dict]], tmp_path: Path, point: str
) -> None:
    template, runs = crash_template
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    prod = repo / "artifacts" / "models" / "production" / "model.joblib"
    prod_bytes = prod.read_bytes()
    tests = repo / "artifacts" / "tests"
    proc = subprocess.Popen(
        [str(BIN / "artifactctl"), "clean", "--keep", "1", "--force"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reached = POINTS[point]
    deadline = time.monotonic() + 60
    while proc.poll() is None and not reached(repo) and time.monotonic() < deadline:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "clean finished before the kill point"
    assert journal_started(repo), "killed before the journal existed or after it finished"

    # Every run is either whole (identical files) or absent; nothing else is touched.
    for name in os.listdir(tests):
        if name == TRASH_DIR:
            continue
        assert snapshot(tests / name) == runs[name], f"{name} is neither whole nor gone"
    assert prod.read_bytes() == prod_bytes

    # The next command finishes the interrupted clean (or finds nothing to do), without crashing.
    status = artifactctl(repo, "status", "--json")
    assert status.returncode in (0, 1), status.stderr
    assert "Traceback" not in status.stderr and "internal error" not in status.stderr
    assert "recovered an interrupted operation" in status.stderr
    assert not journal_started(repo) and not trash_exists(repo), "status did not recover"
    dry = artifactctl(repo, "clean", "--keep", "1", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert {d["name"] for d in plan["remove"]} == set(os.listdir(tests)) - {"run0000", TRASH_DIR}
    done = artifactctl(repo, "clean", "--keep", "1", "--force")
    assert done.returncode == 0, done.stderr
    assert os.listdir(tests) == ["run0000"]
    assert prod.read_bytes() == prod_bytes
    assert not journal_started(repo)
