"""The local-folder fetch at its chunk boundaries: every byte hashed, copied and staged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from artifactctl.sync.fetch import CHUNK, RING, _Md5, fetch_local

SIZES = (0, 1, 4096, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, (RING + 3) * CHUNK + 7)


def put(remote: Path, content: bytes) -> str:
    md5 = hashlib.md5(content).hexdigest()
    folder = remote / "files" / "md5" / md5[:2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / md5[2:]).write_bytes(content)
    return md5


def test_fetch_copies_and_stages_objects_of_every_size_around_the_chunk(tmp_path: Path) -> None:
    remote, cache, stage = tmp_path / "remote", tmp_path / "cache", tmp_path / "stage"
    stage.mkdir()
    contents = {put(remote, os.urandom(size)): size for size in SIZES}
    bad = put(remote, os.urandom(3 * CHUNK))
    (remote / "files" / "md5" / bad[:2] / bad[2:]).write_bytes(os.urandom(3 * CHUNK))

    got = fetch_local(remote, cache, [*contents, bad], stage=stage)

    assert sorted(got.done) == sorted(contents) and got.staged == set(contents)
    assert got.failed.keys() == {bad} and "corrupted on the remote" in got.failed[bad]
    for md5, size in contents.items():
        cached = cache / "files" / "md5" / md5[:2] / md5[2:]
        for copy in (cached, stage / md5):
            data = copy.read_bytes()
            assert len(data) == size and hashlib.md5(data).hexdigest() == md5, copy
    assert not (cache / "files" / "md5" / bad[:2] / bad[2:]).exists()
    assert not (stage / bad).exists()
    assert sorted(os.listdir(stage)) == sorted(contents)  # no temporary file left


def test_a_small_object_is_hashed_inline_without_a_thread() -> None:
    digest = _Md5()
    buffer = digest.buffer()
    buffer[:4096] = b"x" * 4096
    digest.update(buffer, 4096)
    digest.buffer()  # where the read that finds the end goes
    assert digest.thread is None
    assert digest.hexdigest() == hashlib.md5(b"x" * 4096).hexdigest()
