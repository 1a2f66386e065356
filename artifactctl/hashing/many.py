"""Hash many files at once: plain threads, and the hash state for unchanged files.

hashlib releases the GIL while it digests a buffer of more than 2 KiB, and the
system calls release it too, so threads overlap the reading and hashing of
different files. Small files go to the threads in batches, so that the pool's
cost per task stays small next to the work in it.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from artifactctl.hashing import CHUNK, default_jobs, digest_file
from artifactctl.hashing.state import RACY_NS, HashState
from artifactctl.workers import run_all

BATCH_BYTES = 8 << 20  # a thread's task: up to this many bytes of small files...
BATCH_FILES = 256  # ...and this many files, so that the threads finish together


@dataclass(slots=True)
class FileHash:
    """One file's hash, or why there is none."""

    path: Path | str
    key: str  # the file's key in the hash state (callers use it to find their files)
    digest: str | None  # None when unreadable or missing (see error)
    size: int
    from_state: bool = False  # unchanged since it was last hashed: the state vouched for it
    error: str | None = None  # "missing", or why the file could not be read

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
    state is not read. Missing and unreadable files are reported, not raised;
    only regular files (or links to one) are opened. Every hash computed from a
    file not modified within the last seconds is recorded in the state.
    ``on_bytes`` (progress) may be called from the threads.
    """
    # md5 keys stay bare (shared with status and pull); other algorithms get their own.
    prefix = "" if algorithm == "md5" else f"{algorithm}:"
    racy = time.time_ns() - RACY_NS
    recorded = state.get if state is not None and not deep else None
    hashed: list[FileHash] = []
    todo: list[tuple[FileHash, os.stat_result]] = []
    trusted_bytes = 0
    for path, key in files:  # one pass, no call but the stat for an unchanged file
        try:
            st = os.stat(path)
        except OSError as exc:
            hashed.append(FileHash(path, key, None, 0, error=_stat_error(exc)))
            continue
        if not S_ISREG(st.st_mode):
            hashed.append(FileHash(path, key, None, st.st_size, error=_not_regular(st)))
            continue
        known = recorded(prefix + key, st) if recorded else None
        found = FileHash(path, key, known, st.st_size, known is not None)
        hashed.append(found)
        if known is None:
            todo.append((found, st))
        else:
            trusted_bytes += st.st_size
    if on_bytes and trusted_bytes:
        on_bytes(trusted_bytes)
    _digest_all(todo, algorithm, jobs, on_bytes)
    if state is not None:
        # A file modified within the last seconds could change again within the same
        # mtime tick and keep its size: the state must not vouch for it.
        state.put_pairs(
            (prefix + h.key, (st.st_size, st.st_mtime_ns, st.st_ino, h.digest))
            for h, st in todo
            if h.digest is not None and st.st_mtime_ns < racy
        )
    return hashed


def _stat_error(exc: OSError) -> str:
    return "missing" if isinstance(exc, FileNotFoundError) else _reason(exc)


def _not_regular(st: os.stat_result) -> str:
    """Why a file that is not a regular one is not hashed."""
    if S_ISDIR(st.st_mode):
        return os.strerror(errno.EISDIR)
    return "not a regular file"  # a FIFO or a device: opening it could block forever


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _digest_all(
    todo: list[tuple[FileHash, os.stat_result]],
    algorithm: str,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
) -> None:
    """Fill in the digest (or the error) of each file, in threads."""

    def work(batch: list[tuple[FileHash, os.stat_result]]) -> None:
        small_bytes = 0  # reported once per batch; big files report every chunk
        for found, st in batch:
            big = st.st_size >= CHUNK
            try:
                found.digest = digest_file(
                    found.path, algorithm, st.st_size, on_bytes if big else None
                )
            except FileNotFoundError:
                found.error, found.size = "missing", 0
            except OSError as exc:
                found.error = _reason(exc)
            else:
                small_bytes += 0 if big else st.st_size
        if on_bytes and small_bytes:
            on_bytes(small_bytes)

    run_all(work, _batches(todo), default_jobs(jobs))


def _batches(
    todo: list[tuple[FileHash, os.stat_result]],
) -> list[list[tuple[FileHash, os.stat_result]]]:
    """Thread tasks: a file of BATCH_BYTES or more alone, smaller ones together.

    The biggest tasks come first, so that a big file does not start last and
    lengthen the tail.
    """
    batches: list[list[tuple[FileHash, os.stat_result]]] = []
    current: list[tuple[FileHash, os.stat_result]] = []
    current_bytes = 0
    for item in todo:
        size = item[1].st_size
        if size >= BATCH_BYTES:
            batches.append([item])
            continue
        current.append(item)
        current_bytes += size
        if current_bytes >= BATCH_BYTES or len(current) >= BATCH_FILES:
            batches.append(current)
            current, current_bytes = [], 0
    if current:
        batches.append(current)
    batches.sort(key=lambda batch: -sum(st.st_size for _, st in batch))
    return batches
