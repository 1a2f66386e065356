"""The small-file lane of hash_many: forked helpers must give exactly what one process gives."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from artifactctl.hashing import CHUNK
from artifactctl.hashing.lane import FORK_MIN_FILES
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState


def _tree(tmp_path: Path, n: int) -> list[tuple[Path, str]]:
    files = []
    for i in range(n):
        path = tmp_path / f"d{i % 7}" / f"f {i}.bin"  # spaces, several folders
        path.parent.mkdir(exist_ok=True)
        size = (0, 1, 4096, CHUNK - 1, CHUNK, CHUNK + 1)[i % 6] if i % 97 == 0 else 100 + i % 5000
        path.write_bytes(os.urandom(size))
        files.append((path, f"k/{i}"))
    return files


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_many_small_files_split_across_helpers_match_hashlib(
    tmp_path: Path, algorithm: str
) -> None:
    files = _tree(tmp_path, FORK_MIN_FILES * 2 + 13)
    # a missing file, a folder where a file was recorded, in the middle of the helpers' slices
    files[len(files) // 2] = (tmp_path / "gone.bin", "k/gone")
    (tmp_path / "a-folder").mkdir()
    files[-5] = (tmp_path / "a-folder", "k/folder")
    one = hash_many(files, deep=True, jobs=1, algorithm=algorithm)
    seen: list[int] = []
    many = hash_many(files, deep=True, jobs=4, algorithm=algorithm, on_bytes=seen.append)
    assert [(h.key, h.digest, h.size, h.error) for h in one] == [
        (h.key, h.digest, h.size, h.error) for h in many
    ]
    for (path, key), h in zip(files, many, strict=True):
        assert h.key == key
        if key == "k/gone":
            assert h.digest is None and h.error == "missing"
        elif key == "k/folder":
            assert h.digest is None and h.error
        else:
            assert h.digest == hashlib.new(algorithm, path.read_bytes()).hexdigest()
            assert h.size == path.stat().st_size
    readable = sum(h.size for h in many if h.digest is not None)
    assert sum(seen) == readable  # progress counts every byte once


def test_the_meanwhile_work_runs_once_with_or_without_helpers(tmp_path: Path) -> None:
    calls: list[int] = []
    for n in (0, 3, FORK_MIN_FILES * 2):
        (tmp_path / str(n)).mkdir()
        files = _tree(tmp_path / str(n), n)
        calls.clear()
        hash_many(files, deep=True, jobs=2, meanwhile=lambda: calls.append(1))
        assert calls == [1]


def test_deep_lane_records_the_state_that_a_later_check_trusts(tmp_path: Path) -> None:
    files = _tree(tmp_path, FORK_MIN_FILES * 2)
    old = 1_000_000_000  # well before the racy window
    for path, _ in files:
        os.utime(path, (old, old))
    state = HashState(tmp_path / "state.json")
    hashed = hash_many(files, state=state, deep=True, jobs=2)
    state.save()
    again = hash_many(files, state=HashState(tmp_path / "state.json"), jobs=2)
    assert all(h.from_state for h in again)
    assert [h.digest for h in again] == [h.digest for h in hashed]
    # a changed file (new size) is re-read, not vouched for
    files[10][0].write_bytes(b"changed")
    third = hash_many(files, state=HashState(tmp_path / "state.json"), jobs=2)
    assert not third[10].from_state and third[10].digest == hashlib.md5(b"changed").hexdigest()


def test_unknown_files_lists_what_the_full_walk_finds_beyond_the_record(tmp_path: Path) -> None:
    from artifactctl.hashing import walk_relpaths
    from artifactctl.verify.extras import unknown_files

    top = tmp_path / "top"
    recorded = [f"d{i % 3}/sub{i % 2}/f{i}.bin" for i in range(30)] + ["top.txt", "gone/x"]
    for rel in recorded[:-1]:
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(b"x")
    # new files beside recorded ones, a new folder, a recorded folder turned into a file,
    # symlinks to a file (listed) and to a folder (not listed, as the walk does)
    (top / "d0" / "new.bin").write_bytes(b"n")
    (top / "d1" / "sub0" / "new2.bin").write_bytes(b"n")
    (top / "fresh" / "deeper").mkdir(parents=True)
    (top / "fresh" / "deeper" / "a").write_bytes(b"a")
    shutil.rmtree(top / "d2" / "sub1")
    (top / "d2" / "sub1").write_bytes(b"now a file")
    os.symlink(top / "top.txt", top / "d0" / "link-to-file")
    os.symlink(top / "fresh", top / "d0" / "link-to-folder")
    known = set(recorded)
    expected = sorted(rel for rel in walk_relpaths(top) if rel not in known)
    assert sorted(unknown_files(str(top), recorded)[0]) == expected
    assert "d2/sub1" in expected and "fresh/deeper/a" in expected
