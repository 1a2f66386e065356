"""Invariant 5 for `clean --force`: a SIGKILL at each of its named steps leaves every run
whole or gone, and the next command finishes the clean.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from crashsupport import kill_at
from support import artifactctl, init_repo, snapshot

from artifactctl.clean.runs import TRASH_DIR

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
        doc = {"schema": "artifactctl.run/1", "created": created}
        (run / "run.json").write_text(json.dumps(doc))
    prod = repo / "artifacts" / "models" / "production"
    prod.mkdir(parents=True)
    (prod / "model.joblib").write_bytes(b"champion" * 1000)
    (tests / "run0001" / "champion.joblib").symlink_to(prod / "model.joblib")
    runs = {p.name: snapshot(p) for p in tests.iterdir()}
    return repo, runs


def journal_started(repo: Path) -> bool:
    """The clean's intent is durable (a journal folder holding intent.json)."""
    root = repo / ".dvc" / "tmp" / "artifactctl" / "journal"
    return root.is_dir() and any((j / "intent.json").exists() for j in root.iterdir())


def in_trash(repo: Path) -> int:
    trash = repo / "artifacts" / "tests" / TRASH_DIR
    return len(os.listdir(trash)) if trash.exists() else 0


# step -> (runs left in artifacts/tests/, (fewest, most) folders in the trash) when killed there
STEPS = {
    "clean-journal": (RUNS, (0, 0)),  # the intent is durable, nothing moved
    "clean-renaming": (RUNS - 1, (1, 1)),  # the first run moved into the trash
    "clean-renamed": (1, (RUNS - 1, RUNS - 1)),  # every move durable, nothing deleted
    # the first run deleted from the trash (the other threads may have deleted more)
    "clean-deleting": (1, (0, RUNS - 2)),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_at_each_step_of_clean_force_leaves_runs_whole_or_gone(
    crash_template: tuple[Path, dict[str, dict]], tmp_path: Path, step: str
) -> None:
    template, runs = crash_template
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    prod = repo / "artifacts" / "models" / "production" / "model.joblib"
    prod_bytes = prod.read_bytes()
    tests = repo / "artifacts" / "tests"
    kill_at(repo, step, "clean", "--keep", "1", "--force")  # asserts it was still running
    assert journal_started(repo)
    left = [name for name in os.listdir(tests) if name != TRASH_DIR]
    runs_left, (fewest, most) = STEPS[step]
    assert len(left) == runs_left
    assert fewest <= in_trash(repo) <= most

    # Every run is either whole (identical files) or absent; nothing else is touched.
    for name in left:
        assert snapshot(tests / name) == runs[name], f"{name} is neither whole nor gone"
    assert prod.read_bytes() == prod_bytes

    # The next command finishes the interrupted clean, without crashing.
    status = artifactctl(repo, "status", "--json")
    assert status.returncode in (0, 1), status.stderr
    assert "Traceback" not in status.stderr and "internal error" not in status.stderr
    assert "recovered an interrupted operation" in status.stderr
    assert not journal_started(repo) and not (tests / TRASH_DIR).exists(), "no recovery"
    assert sorted(os.listdir(tests)) == sorted(left)
    dry = artifactctl(repo, "clean", "--keep", "1", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert {d["name"] for d in plan["remove"]} == set(left) - {"run0000"}
    done = artifactctl(repo, "clean", "--keep", "1", "--force")
    assert done.returncode == 0, done.stderr
    assert os.listdir(tests) == ["run0000"]
    assert prod.read_bytes() == prod_bytes
    assert not journal_started(repo)


def test_a_clean_killed_in_a_familys_tests_folder_is_finished_there(tmp_path: Path) -> None:
    """The journal names the tests folder it was cleaning: recovery empties that one's trash."""
    repo = init_repo(tmp_path / "repo")
    (repo / "pyproject.toml").write_text(
        "[tool.artifactctl.registries.ranker]\n"
        'fields = {source = "web"}\ntests_dir = "data/{source}/tests"\n'
    )
    family = repo / "data" / "web" / "tests"
    for tests, names in ((repo / "artifacts" / "tests", ["new"]), (family, ["a", "b", "c"])):
        for name in names:
            (tests / name).mkdir(parents=True)
            (tests / name / "f.bin").write_bytes(name.encode() * 100)
            day = "2026-11-23" if name == "new" else f"2020-01-0{ord(name) - 96}"
            created = f"{day}T00:00:00Z"
            doc = {"schema": "artifactctl.run/1", "created": created}
            (tests / name / "run.json").write_text(json.dumps(doc))
    kill_at(repo, "clean-renamed", "clean", "--keep", "1", "--force")
    assert journal_started(repo) and (family / TRASH_DIR).is_dir()
    status = artifactctl(repo, "status", "--json")
    assert "recovered an interrupted operation" in status.stderr, status.stderr
    assert not journal_started(repo) and not (family / TRASH_DIR).exists()
    assert sorted(os.listdir(family)) == ["c"]  # the newest of the family's own runs
    assert os.listdir(repo / "artifacts" / "tests") == ["new"]
