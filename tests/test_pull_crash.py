"""SIGKILL `artifactctl pull` at every crash point of a 200 MB pull: preserved files survive.

The points are the pull's named steps (``ARTIFACTCTL_PAUSE_AT``), plus start-up and two
kills while DVC's fetch is running. Every kill must land where it is meant to: a
process that finished, or got past the point, first fails the test. Each kill is
followed by another artifactctl command, which must finish the interrupted pull's
journal (restoring preserved files) before anything else and say so; a final pull then
completes and everything is byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from crashsupport import kill_at, start
from support import artifactctl, dvc, git, init_repo, sha256, snapshot
from syncsupport import clone

pytestmark = pytest.mark.slow

PRESERVED = "artifacts/data/ref.csv"
MIB = 1 << 20
TOTAL_MIB = 120 + 60 + 300 * 64 // 1024  # what the pull fetches: about 200 MB
OBJECT = re.compile(r"[0-9a-f]{30}(\.dir)?")  # a cache object's name in files/md5/xx/


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo whose tracked folder artifacts/data holds 200 MB and a preserved file, pushed."""
    base = tmp_path_factory.mktemp("crash")
    repo = init_repo(base / "origin", base / "remote")
    (repo / "pyproject.toml").write_text(f'[tool.artifactctl]\npreserve = ["{PRESERVED}"]\n')
    data = repo / "artifacts" / "data"
    data.mkdir(parents=True)
    for name, size in (("big-a.bin", 120), ("big-b.bin", 60)):
        with open(data / name, "wb") as fh:
            for _ in range(size):
                fh.write(os.urandom(MIB))
    for i in range(300):
        (data / "parts" / f"{i // 100}").mkdir(parents=True, exist_ok=True)
        (data / "parts" / f"{i // 100}" / f"p{i:03d}.bin").write_bytes(os.urandom(64 * 1024))
    (data / "ref.csv").write_text("cluster,avg\nremote,1\n")
    dvc(repo, "add", "-q", "artifacts/data")
    dvc(repo, "push", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def journals(repo: Path) -> list[Path]:
    return sorted((repo / ".dvc/tmp/artifactctl/journal").glob("pull-*"))


def cache_files(repo: Path) -> list[Path]:
    files = repo / ".dvc" / "cache" / "files"
    return [p for p in files.rglob("*") if p.is_file()] if files.is_dir() else []


def cache_objects(repo: Path) -> int:
    """Objects in place in DVC's cache (not the temporary files DVC writes them to)."""
    return sum(1 for p in cache_files(repo) if OBJECT.fullmatch(p.name))


def cache_bytes(repo: Path) -> int:
    """Bytes in DVC's cache so far, temporary files included."""
    total = 0
    for path in cache_files(repo):
        with contextlib.suppress(OSError):  # renamed or removed while we looked
            total += path.stat().st_size
    return total


def partial_copies(repo: Path) -> list[int]:
    """Sizes of the temporary copies being written from the cache (before their rename)."""
    return [p.stat().st_size for j in journals(repo) for p in j.glob("scratch/*")]


def reset(repo: Path, local: bytes) -> None:
    """Back to a fresh clone with only the user's curated file."""
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(repo / "artifacts" / "data", ignore_errors=True)
    (repo / PRESERVED).parent.mkdir(parents=True, exist_ok=True)
    (repo / PRESERVED).write_bytes(local)


def kill_during_fetch(repo: Path, ready: Callable[[], bool], attempts: int = 3) -> None:
    """SIGKILL a pull once ``ready()``, while DVC's fetch still runs.

    The pull pauses at ``pull-fetched`` (right after the fetch): if it got there
    before ``ready()`` held, the kill would come too late, so it is tried again from
    an empty cache, and the test fails if no attempt lands inside the fetch.
    """
    for _ in range(attempts):
        run = start(repo, "pull", pause_at="pull-fetched")
        deadline = time.monotonic() + 300
        while run.running() and not run.paused.is_set() and time.monotonic() < deadline:
            if ready():
                break
            time.sleep(0.01)
        fetch_running = run.running() and not run.paused.is_set()
        run.kill()
        if fetch_running:
            return
        shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
        artifactctl(repo, "status", timeout=300)  # recovers the journal of the missed attempt
    raise AssertionError(f"no kill landed inside DVC's fetch in {attempts} attempts")


def kill_at_start_up(repo: Path) -> None:
    """SIGKILL a pull that is still starting up: before the journal's first step."""
    run = start(repo, "pull", pause_at="pull-copying")
    assert not run.paused.is_set(), "the pull got to its journal before the start-up kill"
    run.kill()


def kill_while_writing(repo: Path) -> None:
    kill_at(repo, "pull-writing", "pull")
    sizes = partial_copies(repo)
    assert any(0 < size < 60 * MIB for size in sizes), f"no half-written copy: {sizes}"


# label -> how to kill the pull there, in the order a pull gets to them
POINTS: dict[str, Callable[[Path], None]] = {
    "start-up": kill_at_start_up,
    "journal begun, preserved files not copied yet": lambda r: kill_at(r, "pull-copying", "pull"),
    "journal written": lambda r: kill_at(r, "pull-journal", "pull"),
    "first object fetched": lambda r: kill_during_fetch(r, lambda: cache_objects(r) >= 1),
    "mid-fetch": lambda r: kill_during_fetch(r, lambda: cache_bytes(r) >= TOTAL_MIB * MIB // 2),
    "fetch done": lambda r: kill_at(r, "pull-fetched", "pull"),
    "checkout started": lambda r: kill_at(r, "pull-backups", "pull"),
    "a temporary copy half-written": kill_while_writing,
    "late in the checkout": lambda r: kill_at(r, "pull-written", "pull"),
}


def assert_no_partial_file(repo: Path, origin: Path) -> None:
    """Every workspace file is the user's curated file or byte-identical to the origin's."""
    expected = snapshot(origin / "artifacts")
    for rel, digest in snapshot(repo / "artifacts").items():
        if f"artifacts/{rel}" == PRESERVED:
            continue
        assert rel in expected, f"unexpected file left in the workspace: {rel}"
        assert digest == expected[rel], f"{rel} is not the whole recorded file"


@pytest.mark.parametrize("label", list(POINTS))
def test_sigkill_at_each_point_of_a_pull_keeps_preserved_file(
    origin: Path, tmp_path: Path, label: str
) -> None:
    repo = clone(origin, tmp_path / "clone", origin.parent / "remote")
    local = b"cluster,avg\nmine,42\n"
    reset(repo, local)
    POINTS[label](repo)
    in_pull = bool(journals(repo))
    assert in_pull or label == "start-up", f"{label}: the kill left no journal"
    assert (repo / PRESERVED).read_bytes() == local, label
    assert_no_partial_file(repo, origin)

    nxt = artifactctl(repo, "status", "--json", timeout=300)
    assert nxt.returncode in (0, 1), nxt.stderr
    if in_pull:
        said = " ".join(nxt.stderr.split())
        assert "recovered an interrupted operation" in said, (label, said)
        assert "preserved file" in said or "nothing to restore" in said, (label, said)
    assert not journals(repo), label
    assert (repo / PRESERVED).read_bytes() == local, label

    final = artifactctl(repo, "pull", "--json", timeout=300)
    assert final.returncode == 0, final.stderr
    doc = json.loads(final.stdout)
    assert {f["path"]: f["state"] for f in doc["files"]}[PRESERVED] == "preserved"
    assert (repo / PRESERVED).read_bytes() == local
    assert_no_partial_file(repo, origin)
    assert snapshot(repo / "artifacts").keys() == snapshot(origin / "artifacts").keys()


def test_next_command_restores_preserved_file_damaged_during_interrupted_pull(
    origin: Path, tmp_path: Path
) -> None:
    repo = clone(origin, tmp_path / "clone", origin.parent / "remote")
    local = b"cluster,avg\ncurated,7\n"
    reset(repo, local)
    kill_at(repo, "pull-journal", "pull")
    # Simulate a crash that hit the preserved file mid-write.
    (repo / PRESERVED).write_bytes(b"cluster,a")
    result = artifactctl(repo, "status", timeout=300)
    said = " ".join(result.stderr.split())
    assert "restored 1 preserved file(s) from its journal: " + PRESERVED in said, said
    assert (repo / PRESERVED).read_bytes() == local
    assert sha256(repo / PRESERVED) != sha256(origin / PRESERVED)
    assert not journals(repo)
