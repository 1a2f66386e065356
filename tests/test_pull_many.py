"""pull at thousands of files: every DVC cache type, corrupted remote objects, kills, pushes.

The fetch from a local-folder remote and the checkout are artifactctl's own (parallel,
one verified pass per object); these tests hold them to DVC's results and to the pull's
promises: each file is the recorded one or absent/old, never torn or unverified.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from crashsupport import kill_at, start
from support import BIN, artifactctl, dvc, git, init_repo, snapshot
from syncsupport import clone

FILES = 3000


def make_origin(base: Path, files: int = FILES, pushed: bool = True) -> Path:
    """A repo tracking data/ (``files`` small files in folders, one 3 MiB file), pushed (by
    DVC) unless ``pushed`` is False."""
    repo = init_repo(base / "origin", base / "remote")
    data = repo / "data"
    for i in range(files):
        sub = data / f"d{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(64 + i % 3000))
    (data / "big.bin").write_bytes(os.urandom(3 << 20))
    dvc(repo, "add", "-q", "data")
    if pushed:
        dvc(repo, "push", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_origin(tmp_path_factory.mktemp("many"))


def cache_path(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def recorded(repo: Path) -> dict[str, str]:
    """data/'s files and their md5 as recorded (read from the origin's cache listing)."""
    text = (repo / "data.dvc").read_text()
    dir_md5 = text.split("md5: ")[1].split()[0]
    listing = json.loads(cache_path(repo, dir_md5).read_text())
    return {f"data/{e['relpath']}": e["md5"] for e in listing}


def assert_whole_or_absent(repo: Path, origin: Path) -> None:
    expected = snapshot(origin / "data")
    for rel, digest in snapshot(repo / "data").items() if (repo / "data").is_dir() else ():
        assert digest == expected.get(rel), f"data/{rel} is torn or foreign"


@pytest.mark.slow
@pytest.mark.parametrize("cache_type", ["copy", "hardlink", "symlink", "reflink,copy"])
def test_pull_of_thousands_of_files_matches_dvc_for_each_cache_type(
    origin: Path, tmp_path: Path, cache_type: str
) -> None:
    repo = clone(origin, tmp_path / "clone", origin.parent / "remote")
    dvc(repo, "config", "cache.type", cache_type)
    result = artifactctl(repo, "pull", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["pulled"] == FILES + 1 and doc["fetched"] == FILES + 2
    assert snapshot(repo / "data") == snapshot(origin / "data")

    sample = repo / "data" / "d0" / "f00007.bin"
    obj = cache_path(repo, recorded(origin)["data/d0/f00007.bin"])
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o444  # DVC's protection of the cache
    if cache_type == "hardlink":
        assert os.stat(sample).st_ino == os.stat(obj).st_ino
        assert not os.access(sample, os.W_OK) or os.geteuid() == 0
    elif cache_type == "symlink":
        assert sample.is_symlink() and Path(os.readlink(sample)) == obj
    else:
        assert not sample.is_symlink() and os.stat(sample).st_ino != os.stat(obj).st_ino
        assert stat.S_IMODE(os.stat(sample).st_mode) & 0o200  # the user's own copy
    # DVC agrees: nothing changed, nothing missing from the cache
    status = dvc(repo, "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout


def test_corrupted_remote_objects_are_named_and_never_reach_cache_or_workspace(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path, files=40)
    files = recorded(origin)
    bad = ["data/d0/f00003.bin", "data/d0/f00017.bin"]
    for rel in bad:
        obj = tmp_path / "remote" / "files" / "md5" / files[rel][:2] / files[rel][2:]
        obj.chmod(0o644)
        obj.write_bytes(b"flipped bits")
    repo = clone(origin, tmp_path / "clone", tmp_path / "remote")
    result = artifactctl(repo, "pull")
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for rel in bad:
        assert rel in errors[0] and "corrupted on the remote" in errors[0], errors[0]
        assert not cache_path(repo, files[rel]).exists()
        assert not (repo / rel).exists()
    assert_whole_or_absent(repo, origin)


def test_pull_by_copy_gives_each_file_of_a_shared_object_its_own_copy(tmp_path: Path) -> None:
    """The fetch writes one workspace copy per object in its pass; the other files with the
    same content are copied from the cache, and no file shares another's inode."""
    repo = init_repo(tmp_path / "origin", tmp_path / "remote")
    data = repo / "data"
    data.mkdir()
    small, big, empty = os.urandom(100), os.urandom(3 << 20), b""
    for name, content in (("a", small), ("b", small), ("c", big), ("d", big)):
        (data / f"{name}.bin").write_bytes(content)
    (data / "e.bin").write_bytes(empty)
    (data / "f.bin").write_bytes(empty)
    dvc(repo, "add", "-q", "data")
    dvc(repo, "push", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    dest = clone(repo, tmp_path / "clone", tmp_path / "remote")
    dvc(dest, "config", "cache.type", "copy")
    result = artifactctl(dest, "pull", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["pulled"] == 6
    assert snapshot(dest / "data") == snapshot(data)
    inodes = {os.stat(p).st_ino for p in (dest / "data").iterdir()}
    assert len(inodes) == 6
    for path in (dest / "data").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o200, path  # the user's own copy
    assert not list((dest / ".dvc" / "tmp" / "artifactctl" / "journal").glob("pull-*"))
    status = dvc(dest, "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout


def test_no_verify_from_a_corrupted_cache_object_is_not_recorded_as_up_to_date(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path, files=5)
    repo = clone(origin, tmp_path / "clone", tmp_path / "remote")
    assert artifactctl(repo, "pull").returncode == 0
    rel = "data/d0/f00002.bin"
    obj = cache_path(repo, recorded(origin)[rel])
    obj.chmod(0o644)
    obj.write_bytes(b"rotten cache object")
    obj.chmod(0o444)  # DVC trusts a read-only object: only a re-hash notices
    (repo / rel).unlink()
    result = artifactctl(repo, "pull", "--no-verify")
    assert result.returncode == 0, result.stderr
    assert (repo / rel).read_bytes() == b"rotten cache object"
    status = json.loads(dvc(repo, "status", "--json").stdout)
    assert status, "dvc status calls the corrupted bytes up to date"
    assert "modified" in json.dumps(status), status
    # and a verified pull refuses the object
    (repo / rel).unlink()
    verified = artifactctl(repo, "pull", "--json")
    assert verified.returncode == 1, verified.stderr
    failed = {f["path"]: f for f in json.loads(verified.stdout)["files"]}[rel]
    assert failed["state"] == "failed" and "corrupted" in failed["detail"]


def cache_objects(repo: Path) -> int:
    base = repo / ".dvc" / "cache" / "files" / "md5"
    return sum(len(os.listdir(d)) for d in base.iterdir()) if base.is_dir() else 0


def workspace_files(repo: Path) -> int:
    data = repo / "data"
    return sum(len(files) for _, _, files in os.walk(data)) if data.is_dir() else 0


def kill_when(repo: Path, ready: object) -> bool:
    """SIGKILL a pull once ``ready()`` holds; False if it finished first."""
    run = start(repo, "pull", pause_at="pull-written")
    deadline = time.monotonic() + 300
    while run.running() and not run.paused.is_set() and time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            break
        time.sleep(0.005)
    landed = run.running() and not run.paused.is_set()
    run.kill()
    return landed


@pytest.mark.slow
@pytest.mark.parametrize("cache_type", ["copy", "hardlink"])
def test_sigkill_at_several_points_of_a_many_file_pull_leaves_no_torn_file(
    origin: Path, tmp_path: Path, cache_type: str
) -> None:
    repo = clone(origin, tmp_path / "clone", origin.parent / "remote")
    dvc(repo, "config", "cache.type", cache_type)
    points = [
        lambda: cache_objects(repo) >= 200,
        lambda: cache_objects(repo) >= FILES // 2,
        lambda: workspace_files(repo) >= 100,
        lambda: workspace_files(repo) >= FILES // 2,
    ]
    kill_at(repo, "pull-writing", "pull")  # the first temporary copy or link is being made
    assert_whole_or_absent(repo, origin)
    for ready in points:
        kill_when(repo, ready)
        assert_whole_or_absent(repo, origin)
        for obj in (repo / ".dvc" / "cache" / "files" / "md5").rglob("*"):
            if obj.is_file() and not obj.name.endswith(".tmp"):
                assert stat.S_IMODE(obj.stat().st_mode) == 0o444, obj
    final = artifactctl(repo, "pull")
    assert final.returncode == 0, final.stderr
    assert snapshot(repo / "data") == snapshot(origin / "data")
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}


@pytest.mark.slow
def test_a_pull_during_a_concurrent_push_from_another_clone_never_sees_partial_objects(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path, files=10)
    remote = tmp_path / "remote"
    # The teammate's clone records a new version and commits it before its push is done.
    mate = clone(origin, tmp_path / "mate", remote)
    data = mate / "data"
    for i in range(FILES):
        (data / "new" / f"{i // 500}").mkdir(parents=True, exist_ok=True)
        (data / "new" / f"{i // 500}" / f"n{i:05d}.bin").write_bytes(os.urandom(2048))
    (data / "huge.bin").write_bytes(os.urandom(48 << 20))
    dvc(mate, "add", "-q", "data")
    git(mate, "commit", "-qam", "new data")
    repo = clone(mate, tmp_path / "clone", remote)
    pusher = subprocess.Popen([BIN / "dvc", "push", "-q"], cwd=mate)
    outcomes = []
    try:
        while pusher.poll() is None:
            result = artifactctl(repo, "pull")
            outcomes.append(result.returncode)
            assert result.returncode in (0, 3), result.stderr
            if result.returncode == 3:
                # the listing or some files are not on the remote yet: one line, nothing written
                assert "fetching from remote 'local' failed" in result.stderr, result.stderr
                assert "missing on the remote" in result.stderr, result.stderr
            assert_whole_or_absent(repo, mate)
    finally:
        pusher.wait(timeout=600)
    assert pusher.returncode == 0
    final = artifactctl(repo, "pull")
    assert final.returncode == 0, final.stderr
    assert snapshot(repo / "data") == snapshot(mate / "data")
    assert outcomes, "the push finished before any pull ran"
