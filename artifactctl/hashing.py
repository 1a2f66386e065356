"""DVC-compatible MD5 hashing of files and directories, in parallel, with a state cache.

DVC 3.x records a file's ``md5`` as the MD5 of its bytes. A directory's hash is
the MD5 of the JSON list ``[{"md5": ..., "relpath": ...}, ...]`` sorted by
relpath and dumped with ``json.dumps(..., sort_keys=True)``, followed by
``.dir``; that JSON list is also the content of the ``.dir`` cache object.

hashlib releases the GIL while it digests large buffers, so threads scale to the
disk's speed; small files are handed to workers in batches so that the pool's
per-task overhead does not dominate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from artifactctl.fsutil import atomic_write_text

CHUNK = 64 << 10  # 64 KiB reads: the buffer stays in cache; 1 MiB costs 4x the system time
BATCH_BYTES = 8 << 20  # a worker task hashes up to this many bytes of small files
ALGORITHMS = ("md5", "sha256")
RACY_NS = 2_000_000_000  # files modified this recently are never recorded in the state

_local = threading.local()


def _buffer() -> memoryview:
    """One reusable read buffer per thread (allocating one per small file costs more
    than hashing it)."""
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
    in one system call."""
    digest = getattr(hashlib, algorithm)() if algorithm in ALGORITHMS else hashlib.new(algorithm)
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


class HashState:
    """Remembers (size, mtime_ns, inode) -> md5 so that unchanged files are not re-read.

    Kept as one JSON file under artifactctl's state folder; keys are
    repository-relative paths. Only hashes that were computed from the file as
    it is now are recorded, so a stale entry can never vouch for new content.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list] = {}
        self._dirty = False
        if path is not None and path.is_file():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self._entries = data

    def get(self, key: str, st: os.stat_result) -> str | None:
        entry = self._entries.get(key)
        if entry and entry[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            return entry[3]
        return None

    def put(self, key: str, st: os.stat_result, md5: str) -> None:
        entry = [st.st_size, st.st_mtime_ns, st.st_ino, md5]
        if self._entries.get(key) != entry:  # re-hashing unchanged files needs no rewrite
            self._entries[key] = entry
            self._dirty = True

    def forget(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if self.path is not None and self._dirty:
            atomic_write_text(self.path, json.dumps(self._entries, separators=(",", ":")))
            self._dirty = False


@dataclass
class FileHash:
    path: Path | str
    key: str
    digest: str | None  # None when unreadable or missing
    size: int
    from_state: bool = False
    error: str | None = None

    @property
    def md5(self) -> str | None:
        """The digest (named for the default algorithm, as callers compare md5s)."""
        return self.digest


def hash_many(
    files: Sequence[tuple[Path | str, str]],
    *,
    state: HashState | None = None,
    deep: bool = False,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    algorithm: str = "md5",
) -> list[FileHash]:
    """Hash (path, state key) pairs; results in the same order as ``files``.

    With a state and not ``deep``, a file whose size, mtime and inode match the
    state is not read. Missing and unreadable files are reported, not raised.
    ``on_bytes`` may be called from worker threads.
    """
    # md5 keys stay bare (shared with status); other algorithms get their own keys.
    prefix = "" if algorithm == "md5" else algorithm + ":"
    racy = time.time_ns() - RACY_NS
    results: list[FileHash | None] = [None] * len(files)
    todo: list[tuple[int, Path | str, str, os.stat_result]] = []
    skipped_bytes = 0
    for i, (path, key) in enumerate(files):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            results[i] = FileHash(path, key, None, 0, error="missing")
            continue
        except OSError as exc:
            results[i] = FileHash(path, key, None, 0, error=exc.strerror or str(exc))
            continue
        cached = state.get(prefix + key, st) if (state is not None and not deep) else None
        if cached is not None:
            results[i] = FileHash(path, key, cached, st.st_size, from_state=True)
            skipped_bytes += st.st_size
        else:
            todo.append((i, path, key, st))
    if on_bytes and skipped_bytes:
        on_bytes(skipped_bytes)

    Item = tuple[int, Path | str, str, os.stat_result]

    def work(batch: list[Item]) -> list[tuple[Item, FileHash]]:
        done = []
        small = 0
        for item in batch:
            _, path, key, st = item
            big = st.st_size >= CHUNK
            try:
                value = digest_file(path, algorithm, st.st_size, on_bytes if big else None)
                done.append((item, FileHash(path, key, value, st.st_size)))
            except FileNotFoundError:
                done.append((item, FileHash(path, key, None, 0, error="missing")))
            except OSError as exc:
                error = exc.strerror or str(exc)
                done.append((item, FileHash(path, key, None, st.st_size, error=error)))
            if not big:
                small += st.st_size
        if on_bytes and small:
            on_bytes(small)
        return done

    batches = _batches(todo)
    workers = min(default_jobs(jobs), max(1, len(batches)))
    if workers == 1:
        finished = [work(b) for b in batches]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            finished = list(pool.map(work, batches))
    for batch in finished:
        for (i, _, _, st), fh in batch:
            results[i] = fh
            # A file modified within the last seconds could change again inside the same
            # mtime tick and keep its size: do not let the state vouch for it (racy clean).
            if state is not None and fh.digest is not None and st.st_mtime_ns < racy:
                state.put(prefix + fh.key, st, fh.digest)
    return [r for r in results if r is not None]


def _batches(todo: list) -> list[list]:
    """Worker tasks: files under CHUNK in one sequential lane, bigger files spread by bytes.

    A small file is mostly Python and system-call overhead, which holds the GIL: two
    threads on 4 KiB files run slower than one (measured), so they share one lane.
    Bigger files are digested with the GIL released and do run in parallel; the
    biggest start first so that one does not lengthen the tail.
    """
    small = [item for item in todo if item[3].st_size < CHUNK]
    batches: list[list] = []
    current: list = []
    current_bytes = 0
    for item in todo:
        size = item[3].st_size
        if size < CHUNK:
            continue
        if size >= BATCH_BYTES:
            batches.append([item])
            continue
        current.append(item)
        current_bytes += size
        if current_bytes >= BATCH_BYTES:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    batches.sort(key=lambda b: -sum(it[3].st_size for it in b))
    return ([small] if small else []) + batches
