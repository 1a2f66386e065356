"""DVC-compatible MD5 hashing of files and directories, and walking folders.

DVC 3.x records a file's ``md5`` as the MD5 of its bytes. A directory's hash is
the MD5 of the JSON list ``[{"md5": ..., "relpath": ...}, ...]`` sorted by
relpath and dumped with ``json.dumps(..., sort_keys=True)``, followed by
``.dir``; that JSON list is also the content of the ``.dir`` cache object.

Hashing many files at once, in parallel and with the hash state, is
``hashing.many``; the state is ``hashing.state``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

# 256 KiB reads (as hashlib.file_digest and the pull): 2-3% less time than 64 KiB for a
# big file here; 1 MiB buffers cost 4x the system time (they leave the CPU cache).
CHUNK = 256 << 10

_local = threading.local()


def _buffer() -> memoryview:
    """One reusable read buffer per thread (allocating one per file costs more than
    hashing a small one)."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(CHUNK))
    return view


def digest_file(
    path: Path | str,
    algorithm: str = "md5",
    size: int = -1,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """Hex digest of a file's bytes. ``size`` (from a stat) lets a small file be read
    in one system call; ``on_bytes`` hears of every chunk read after that."""
    import hashlib  # here: a re-check that finds every file unchanged loads no OpenSSL

    digest = hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY)
    try:
        if 0 <= size < CHUNK:
            data = os.read(fd, size + 1)
            digest.update(data)
            if len(data) <= size:  # end of file reached (a shorter file stops early too)
                return digest.hexdigest()
        elif _FADVISE:
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        view = _buffer()
        while n := os.readv(fd, [view]):
            digest.update(view[:n])
            if on_bytes:
                on_bytes(n)
    finally:
        os.close(fd)
    return digest.hexdigest()


_FADVISE = hasattr(os, "posix_fadvise")


def md5_file(path: Path | str, size: int = -1) -> str:
    return digest_file(path, "md5", size)


def sha256_file(path: Path | str, size: int = -1) -> str:
    return digest_file(path, "sha256", size)


def manifest_bytes(entries: Iterable[tuple[str, str]]) -> bytes:
    """The bytes of a DVC ``.dir`` object for (relpath, md5) pairs."""
    listing = sorted(({"md5": md5, "relpath": rel} for rel, md5 in entries), key=_relpath)
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def dir_md5(entries: Iterable[tuple[str, str]]) -> str:
    """DVC's hash of a directory from its files' (relpath, md5) pairs."""
    import hashlib

    return hashlib.md5(manifest_bytes(entries)).hexdigest() + ".dir"


def _relpath(item: dict[str, str]) -> str:
    return item["relpath"]


def walk_files(top: Path) -> list[Path]:
    """Every regular file under ``top`` (symlinks to files included, as DVC does)."""
    base = os.fspath(top)
    return [Path(base, rel) for rel in walk_relpaths(base)]


def walk_relpaths(top: Path | str) -> list[str]:
    """POSIX paths relative to ``top`` of every file under it, like ``walk_files``.

    Plain strings: building a pathlib object per file costs more than the stat.
    """
    found: list[str] = []
    stack = [(os.fspath(top), "")]
    while stack:
        current, prefix = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, prefix + entry.name + "/"))
            elif entry.is_file():
                found.append(prefix + entry.name)
    return found


def default_jobs(jobs: int = 0) -> int:
    return jobs if jobs > 0 else max(4, (os.cpu_count() or 1) * 2)
