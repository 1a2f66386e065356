"""The head start of `verify --deep` (verify.early): used only for the very same files."""

from __future__ import annotations

import array
import fcntl
import json
import os
import termios
import time
from pathlib import Path

import pytest
from support import artifactctl, dvc, init_repo

from artifactctl.hashing.lane import FORK_MIN_FILES, _cores
from artifactctl.project import find_repo
from artifactctl.verify import early
from artifactctl.verify.check import verify

TOP = "artifacts/many"
pytestmark = pytest.mark.skipif(_cores() < 2, reason="the head start needs two cores")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = init_repo(tmp_path / "repo")
    top = repo / TOP
    for i in range(FORK_MIN_FILES + 100):
        path = top / f"d{i % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + i % 50))
    dvc(repo, "add", "-q", TOP)
    monkeypatch.chdir(repo)
    return repo


def _watch(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Record whether each cancel stopped a running helper, and what confirm said."""
    seen: dict[str, list] = {"cancelled": [], "confirmed": []}
    cancel, confirm = early.cancel, early.confirm

    def watch_cancel() -> None:
        seen["cancelled"].append(bool(early._running))
        cancel()

    def watch_confirm(*args: object) -> bool:
        seen["confirmed"].append(confirm(*args))  # type: ignore[arg-type]
        return seen["confirmed"][-1]

    monkeypatch.setattr(early, "cancel", watch_cancel)
    monkeypatch.setattr(early, "confirm", watch_confirm)
    return seen


def _wait_until_it_hashes() -> None:
    """Until the helper took a chunk from its queue (it reads the names before that)."""
    (_, _, _, _, count), (queue, _) = early._running[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = array.array("i", [0])
        fcntl.ioctl(queue, termios.FIONREAD, waiting)
        if waiting[0] < count:
            return
        time.sleep(0.001)
    raise AssertionError("the helper never started hashing")


def _deep(repo: Path) -> dict[str, str]:
    report = verify(find_repo(repo), [TOP], deep=True)
    assert report.total >= FORK_MIN_FILES + 100
    return {f.path: f.state for f in report.flagged}


def test_the_head_start_is_adopted_and_sees_a_changed_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deep(repo) == {}  # plans, and remembers the plan
    seen = _watch(monkeypatch)
    target = repo / TOP / "d3" / "f00303.bin"
    data = bytearray(target.read_bytes())
    data[7] ^= 0xFF
    target.write_bytes(bytes(data))  # same size, other content
    early.start([TOP], False, True, 0)
    assert early._running  # a helper hashes already
    assert _deep(repo) == {f"{TOP}/d3/f00303.bin": "corrupted"}
    assert seen["cancelled"] == [] and seen["confirmed"] == [True]  # adopted and trusted
    assert not early._running


def test_a_head_start_on_another_list_of_files_is_stopped(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deep(repo) == {}
    seen = _watch(monkeypatch)
    (repo / TOP / "d0" / "new.bin").write_bytes(b"new")
    dvc(repo, "add", "-q", TOP)  # one file more: another manifest
    early.start([TOP], False, True, 0)
    assert early._running
    assert _deep(repo) == {}
    assert seen["cancelled"] == [True] and seen["confirmed"] == []


def test_a_head_start_that_read_another_file_of_names_is_not_trusted(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deep(repo) == {}
    seen = _watch(monkeypatch)
    early.start([TOP], False, True, 0)
    _wait_until_it_hashes()  # so it has read its file of names
    memo = next((repo / ".dvc" / "tmp" / "artifactctl" / "manifests").glob("*.marshal"))
    replaced = memo.with_suffix(".new")
    replaced.write_bytes(memo.read_bytes())
    os.replace(replaced, memo)  # the same names, but not the file the helper read
    target = repo / TOP / "d5" / "f00105.bin"
    target.write_bytes(b"x" * target.stat().st_size)
    assert _deep(repo) == {f"{TOP}/d5/f00105.bin": "corrupted"}
    assert seen["confirmed"] == [False]  # its chunks were hashed again


def test_the_console_script_gives_the_same_verdicts_with_a_head_start(repo: Path) -> None:
    first = artifactctl(repo, "verify", "--deep", TOP)
    assert first.returncode == 0, first.stderr
    (repo / TOP / "d1" / "f00011.bin").unlink()
    again = artifactctl(repo, "verify", "--deep", "--json", TOP)
    assert again.returncode == 1
    doc = json.loads(again.stdout)
    assert {f["path"]: f["state"] for f in doc["files"] if f["problem"]} == {
        f"{TOP}/d1/f00011.bin": "missing"
    }
    assert doc["summary"]["ok"] == FORK_MIN_FILES + 99
