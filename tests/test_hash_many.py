"""hash_many: threads give exactly what one thread gives, and the state vouches only for
files it saw as they are."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from artifactctl.hashing import CHUNK, digest_file
from artifactctl.hashing.many import BATCH_BYTES, hash_many
from artifactctl.hashing.state import HashState

SMALL_FILES = 3000


def _tree(tmp_path: Path, n: int) -> list[tuple[Path, str]]:
    files = []
    for i in range(n):
        path = tmp_path / f"d{i % 7}" / f"f {i}.bin"  # spaces, several folders
        path.parent.mkdir(exist_ok=True)
        size = (0, 1, 4096, CHUNK - 1, CHUNK, CHUNK + 1)[i % 6] if i % 97 == 0 else 100 + i % 5000
        path.write_bytes(os.urandom(size))
        files.append((path, f"k/{i}"))
    for i, size in enumerate((BATCH_BYTES + 1, BATCH_BYTES // 3, 3 * CHUNK + 7)):
        path = tmp_path / f"big {i}.bin"
        path.write_bytes(os.urandom(size))
        files.insert(i * n // 3, (path, f"k/big{i}"))
    return files


def _age(files: list[tuple[Path, str]]) -> None:
    old = 1_000_000_000  # well before the racy window
    for path, _ in files:
        if path.is_file():
            os.utime(path, (old, old))


def _watch_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads that digest files from now on."""
    seen: set[int] = set()

    def digest(*args: object, **kwargs: object) -> str:
        seen.add(threading.get_ident())
        return digest_file(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("artifactctl.hashing.many.digest_file", digest)
    return seen


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
@pytest.mark.parametrize("with_state", [False, True])
def test_four_threads_give_exactly_what_one_thread_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str, with_state: bool
) -> None:
    files = _tree(tmp_path, SMALL_FILES)
    # a missing file and a folder where a file was recorded, amid the others
    files[len(files) // 2] = (tmp_path / "gone.bin", "k/gone")
    (tmp_path / "a-folder").mkdir()
    files[-5] = (tmp_path / "a-folder", "k/folder")
    _age(files)

    def state(name: str) -> HashState | None:
        return HashState(tmp_path / name) if with_state else None

    threads = _watch_threads(monkeypatch)
    one = hash_many(files, state=state("one.marshal"), deep=True, jobs=1, algorithm=algorithm)
    assert threads == {threading.get_ident()}  # one thread: this one
    threads.clear()
    seen: list[int] = []
    many = hash_many(
        files, state=state("many.marshal"), jobs=4, algorithm=algorithm, on_bytes=seen.append
    )
    assert len(threads) >= 2  # the work really was shared

    assert one == many
    for (path, key), h in zip(files, many, strict=True):
        assert h.key == key and h.path == path and not h.from_state
        if key == "k/gone":
            assert (h.digest, h.error, h.size) == (None, "missing", 0)
        elif key == "k/folder":
            assert h.digest is None and "directory" in (h.error or "").lower()
        else:
            assert h.digest == hashlib.new(algorithm, path.read_bytes()).hexdigest()
            assert h.size == path.stat().st_size and h.error is None
    assert sum(seen) == sum(h.size for h in many if h.digest is not None)  # every byte once


def test_the_state_records_what_threads_hashed_and_a_later_check_trusts_it(
    tmp_path: Path,
) -> None:
    files = _tree(tmp_path, SMALL_FILES)
    _age(files)
    state = HashState(tmp_path / "state.marshal")
    hashed = hash_many(files, state=state, deep=True, jobs=4)
    state.save()
    again = hash_many(files, state=HashState(tmp_path / "state.marshal"), jobs=1)
    assert all(h.from_state for h in again)
    assert [h.digest for h in again] == [h.digest for h in hashed]
    # a changed file (new size) is re-read, not vouched for; --deep reads them all
    files[10][0].write_bytes(b"changed")
    third = hash_many(files, state=HashState(tmp_path / "state.marshal"), jobs=4)
    assert not third[10].from_state and third[10].digest == hashlib.md5(b"changed").hexdigest()
    assert sum(h.from_state for h in third) == len(files) - 1
    deep = hash_many(files, state=HashState(tmp_path / "state.marshal"), deep=True, jobs=4)
    assert not any(h.from_state for h in deep)


def test_a_fifo_is_reported_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (got,) = hash_many([(fifo, "pipe")], jobs=2)  # opening it would wait for a writer
    assert got.digest is None and got.error == "not a regular file"
