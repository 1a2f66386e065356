"""SIGKILL `artifactctl pull` at many points of a 200 MB pull: preserved files survive.

Each kill is followed by another artifactctl command, which must finish the
interrupted pull's journal (restoring preserved files) before anything else and
say so; a final pull then completes and everything is byte-identical.
"""

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
from support import BIN, artifactctl, dvc, git, init_repo, sha256, snapshot
from syncsupport import clone

pytestmark = pytest.mark.slow

PRESERVED = "artifacts/data/ref.csv"
MIB = 1 << 20


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


def writing(repo: Path) -> bool:
    """A temporary copy is being written from the cache (before its rename into place)."""
    return any(any(j.glob("scratch/*")) for j in journals(repo))


def phase(repo: Path) -> str | None:
    for j in journals(repo):
        try:
            return json.loads((j / "intent.json").read_text())["data"]["phase"]
        except (OSError, ValueError, KeyError):
            return "starting"
    return None


def cache_has_data(repo: Path) -> bool:
    files = repo / ".dvc" / "cache" / "files"
    return files.is_dir() and any(p.is_file() for p in files.rglob("*"))


def reset(repo: Path, local: bytes) -> None:
    """Back to a fresh clone with only the user's curated file."""
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(repo / "artifacts" / "data", ignore_errors=True)
    (repo / PRESERVED).parent.mkdir(parents=True, exist_ok=True)
    (repo / PRESERVED).write_bytes(local)


def kill_when(repo: Path, ready: Callable[[], bool], delay: float = 0.0) -> bool:
    """Start a pull, SIGKILL it once ``ready()`` (then ``delay`` s); False if it finished first."""
    proc = subprocess.Popen(
        [str(BIN / "artifactctl"), "pull"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    if delay:
        time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def assert_no_partial_file(repo: Path, origin: Path) -> None:
    """Every workspace file is the user's curated file or byte-identical to the origin's."""
    expected = snapshot(origin / "artifacts")
    for rel, digest in snapshot(repo / "artifacts").items():
        if f"artifacts/{rel}" == PRESERVED:
            continue
        assert rel in expected, f"unexpected file left in the workspace: {rel}"
        assert digest == expected[rel], f"{rel} is not the whole recorded file"


def test_sigkill_at_many_points_of_a_pull_keeps_preserved_file(
    origin: Path, tmp_path: Path
) -> None:
    repo = clone(origin, tmp_path / "clone", origin.parent / "remote")
    local = b"cluster,avg\nmine,42\n"
    points: list[tuple[str, Callable[[], bool], float]] = [
        ("right after start", lambda: True, 0.3),
        ("journal written", lambda: phase(repo) == "pulling", 0.0),
        ("first object fetched", lambda: cache_has_data(repo), 0.0),
        ("mid-fetch", lambda: cache_has_data(repo), 0.8),
        ("checkout started", lambda: (repo / "artifacts/data/parts").exists(), 0.0),
        ("a temporary copy half-written", lambda: writing(repo), 0.0),
        ("during checkout/verify", lambda: (repo / "artifacts/data/big-b.bin").exists(), 0.2),
    ]
    killed_with_journal = 0
    for label, ready, delay in points:
        reset(repo, local)
        killed = kill_when(repo, ready, delay)
        had_journal = bool(journals(repo))
        assert (repo / PRESERVED).read_bytes() == local, label
        assert_no_partial_file(repo, origin)
        nxt = artifactctl(repo, "status", "--json", timeout=300)
        assert nxt.returncode in (0, 1), nxt.stderr
        if killed and had_journal:
            killed_with_journal += 1
            said = " ".join(nxt.stderr.split())
            assert "recovered an interrupted operation" in said, (label, said)
            assert "preserved file" in said or "nothing to restore" in said, (label, said)
        assert not journals(repo), label
        assert (repo / PRESERVED).read_bytes() == local, label
    assert killed_with_journal >= 3, "too few kills landed inside a pull"

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
    assert kill_when(repo, lambda: phase(repo) == "pulling")
    # Simulate a crash that hit the preserved file mid-write.
    (repo / PRESERVED).write_bytes(b"cluster,a")
    result = artifactctl(repo, "status", timeout=300)
    said = " ".join(result.stderr.split())
    assert "restored 1 preserved file(s) from its journal: " + PRESERVED in said, said
    assert (repo / PRESERVED).read_bytes() == local
    assert sha256(repo / PRESERVED) != sha256(origin / PRESERVED)
    assert not journals(repo)
