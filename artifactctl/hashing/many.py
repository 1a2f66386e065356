"""Hash many files at once, in parallel, with the hash state.

hashlib releases the GIL while it digests large buffers, so threads scale to the
disk's speed; small files go through the small-file lane (``hashlane``), and the
bigger ones are handed to threads in batches so that the pool's per-task
overhead does not dominate.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from artifactctl.hashing import CHUNK, default_jobs, digest_file
from artifactctl.hashing.lane import _small_lane, _text
from artifactctl.hashing.state import RACY_NS, HashState

BATCH_BYTES = 8 << 20  # a worker task hashes up to this many bytes of small files


class FileHash:
    """One file's hash (a plain class: a dataclass costs a compile at every start)."""

    __slots__ = ("digest", "error", "from_state", "key", "path", "size")

    def __init__(
        self,
        path: Path | str,
        key: str,
        digest: str | None,  # None when unreadable or missing
        size: int,
        from_state: bool = False,
        error: str | None = None,
    ) -> None:
        self.path, self.key, self.digest, self.size = path, key, digest, size
        self.from_state, self.error = from_state, error

    def __repr__(self) -> str:
        return (
            f"FileHash({self.path!r}, {self.key!r}, {self.digest!r}, {self.size}, "
            f"{self.from_state}, {self.error!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileHash) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

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
    meanwhile: Callable[[], object] | None = None,
) -> list[FileHash]:
    """Hash (path, state key) pairs; results in the same order as ``files``.

    See ``hash_columns``, which this wraps with one FileHash per file.
    """
    got = hash_columns(
        [os.fspath(p) for p, _ in files],
        [k for _, k in files],
        state=state,
        deep=deep,
        jobs=jobs,
        on_bytes=on_bytes,
        algorithm=algorithm,
        meanwhile=meanwhile,
    )
    errors = got.errors
    return [
        FileHash(path, key, digest, size, cached, errors.get(i))
        for i, ((path, key), digest, size, cached) in enumerate(
            zip(files, got.digests, got.sizes, got.cached, strict=True)
        )
    ]


class Hashed:
    """Results of ``hash_columns``, one list entry per file (columns, not objects:
    at 20,000 files an object each costs as much as a tenth of the hashing)."""

    __slots__ = ("cached", "digests", "errors", "sizes")

    def __init__(
        self,
        digests: list[str | None],  # None when unreadable or missing (see errors)
        sizes: list[int],
        cached: list[bool],  # the state vouched for it: not read
        errors: dict[int, str],  # index -> "missing" or the error text
    ) -> None:
        self.digests, self.sizes, self.cached, self.errors = digests, sizes, cached, errors


def hash_columns(
    paths: list[str],
    keys: list[str] | Callable[[], list[str]],
    *,
    state: HashState | None = None,
    deep: bool = False,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    algorithm: str = "md5",
    meanwhile: Callable[[], object] | None = None,
    root: str | None = None,
) -> Hashed:
    """Hash files given as paths and their state keys (results in the same order).

    Relative paths are relative to ``root`` (else to the working directory): opening
    ``a/b`` below a folder's descriptor is cheaper than resolving the whole path.
    With a state and not ``deep``, a file whose size, mtime and inode match the
    state is not read. Missing and unreadable files are reported, not raised.
    ``on_bytes`` may be called from worker threads.

    Files under CHUNK go through one tight loop (open, fstat, one read, digest),
    split across forked processes when there are many (their cost is Python and
    system calls, which threads cannot run in parallel); bigger files are
    digested by threads, which release the GIL inside hashlib.

    ``meanwhile``: the caller's other work, run once in this process; while forked
    helpers hash when there are any. ``keys`` may be a function returning them: then it
    is called only once they are needed (after ``meanwhile`` on a deep check).
    """
    dir_fd = None if root is None else os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        return _hash_columns(paths, keys, state, deep, jobs, on_bytes, algorithm, meanwhile, dir_fd)
    finally:
        if dir_fd is not None:
            os.close(dir_fd)


_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _hash_columns(
    paths: list[str],
    key_list: list[str] | Callable[[], list[str]],
    state: HashState | None,
    deep: bool,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
    algorithm: str,
    meanwhile: Callable[[], object] | None,
    dir_fd: int | None,
) -> Hashed:
    # md5 keys stay bare (shared with status); other algorithms get their own keys.
    prefix = "" if algorithm == "md5" else algorithm + ":"
    racy = time.time_ns() - RACY_NS
    n = len(paths)
    keys: list[str] = []
    if not callable(key_list):
        keys = key_list
    digests: list[str | None] = [None] * n
    sizes = [0] * n
    cached = [False] * n
    errors: dict[int, str] = {}
    lane: list[int] | None = None  # size unknown or small: the tight loop (None: all)
    big: list[tuple[int, int, int, int]] = []  # (index, size, mtime_ns, inode)
    if state is not None and not deep:
        if callable(key_list):
            keys = key_list()
        lane = []
        skipped_bytes = 0
        get = state.get
        stat = os.stat
        for i, path in enumerate(paths):
            try:
                st = stat(path, dir_fd=dir_fd)
            except FileNotFoundError:
                errors[i] = "missing"
                continue
            except OSError as exc:
                errors[i] = exc.strerror or str(exc)
                continue
            hit = get(prefix + keys[i], st)
            if hit is not None:
                digests[i], sizes[i], cached[i] = hit, st.st_size, True
                skipped_bytes += st.st_size
            elif st.st_size >= CHUNK:
                big.append((i, st.st_size, st.st_mtime_ns, st.st_ino))
            else:
                lane.append(i)
        if on_bytes and skipped_bytes:
            on_bytes(skipped_bytes)

    if lane is None or lane:
        # Every file (deep, or no state): the lane does not stat them (a fifth of its
        # system time); the few the state does not already know are stat-ed afterwards.
        bare = lane is None
        lane_paths = paths if bare else [paths[i] for i in lane]  # type: ignore[misc]
        got = _small_lane(lane_paths, algorithm, jobs, on_bytes, meanwhile, dir_fd, bare)
        meanwhile = None
        l_digests, l_sizes, l_mtimes, l_inos, l_errors = got
        if state is not None and callable(key_list):
            keys = key_list()
        if state is not None:
            lane_keys = keys if lane is None else [keys[i] for i in lane]
            if prefix:
                lane_keys = [prefix + k for k in lane_keys]
            if bare:
                _record_unknown(state, lane_keys, lane_paths, l_digests, l_sizes, racy, dir_fd)
            else:
                entries = zip(l_sizes, l_mtimes, l_inos, l_digests, strict=True)
                if l_errors or "" in l_digests or max(l_mtimes, default=0) >= racy:
                    # A file modified within the last seconds could change again inside the
                    # same mtime tick and keep its size: the state must not vouch for it.
                    state.put_pairs(
                        (k, e)
                        for k, e in zip(lane_keys, entries, strict=True)
                        if e[3] and e[1] < racy
                    )
                else:  # the usual case: every file hashed, none changed just now
                    state.put_pairs(zip(lane_keys, entries, strict=True))
        if lane is None:
            digests, sizes = l_digests, l_sizes
            errors = dict(l_errors)
        else:
            for j, i in enumerate(lane):
                digests[i], sizes[i] = l_digests[j], l_sizes[j]
            for j, error in l_errors.items():
                errors[lane[j]] = error
        if "" in l_digests:  # too big for the lane: to the threads
            for j, digest in enumerate(l_digests):
                if digest != "":
                    continue
                i = j if lane is None else lane[j]
                digests[i] = None
                if not bare:
                    big.append((i, l_sizes[j], l_mtimes[j], l_inos[j]))
                    continue
                try:
                    st = os.stat(paths[i], dir_fd=dir_fd)
                except OSError as exc:
                    errors[i] = "missing" if isinstance(exc, FileNotFoundError) else _text(exc)
                    sizes[i] = 0
                    continue
                big.append((i, st.st_size, st.st_mtime_ns, st.st_ino))

    if meanwhile is not None:
        meanwhile()

    def work(batch: list[tuple[int, int, int, int]]) -> list[tuple[str | None, str | None]]:
        done: list[tuple[str | None, str | None]] = []
        for i, size, _, _ in batch:
            try:
                done.append((digest_file(paths[i], algorithm, size, on_bytes, dir_fd), None))
            except FileNotFoundError:
                done.append((None, "missing"))
            except OSError as exc:
                done.append((None, exc.strerror or str(exc)))
        return done

    if big:
        from concurrent.futures import ThreadPoolExecutor

        batches = _batches(big)
        workers = min(default_jobs(jobs), max(1, len(batches)))
        if workers == 1:
            finished = [work(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                finished = list(pool.map(work, batches))
        fresh = {}
        for batch, hashed in zip(batches, finished, strict=True):
            for (i, size, mtime, ino), (digest, error) in zip(batch, hashed, strict=True):
                if digest is None:
                    errors[i] = error or "unreadable"
                    sizes[i] = 0 if error == "missing" else size
                    continue
                digests[i], sizes[i] = digest, size
                if state is not None and mtime < racy:  # not changed in the last seconds
                    fresh[prefix + keys[i]] = (size, mtime, ino, digest)
        if state is not None:
            state.put_pairs(fresh.items())
    return Hashed(digests, sizes, cached, errors)


_UNKNOWN = (None, None, None, None)


def _record_unknown(
    state: HashState,
    keys: list[str],
    paths: list[str],
    digests: list[str | None],
    sizes: list[int],
    racy: int,
    dir_fd: int | None,
) -> None:
    """Record files hashed without a stat whose size and digest the state lacks.

    Their stat comes after the read; a file last modified before the racy window was
    not modified while it was read, so the two belong together. A file whose entry
    has the same size and digest but an older mtime keeps that entry: it no longer
    vouches (the mtime differs), and the next check re-hashes and records it.
    """
    get = state._entries.get
    try:  # the usual case, in C loops: the state already has these sizes and digests
        olds = list(map(get, keys, repeat(_UNKNOWN)))
        if list(map(itemgetter(3), olds)) == digests and list(map(itemgetter(0), olds)) == sizes:
            return
    except (TypeError, IndexError, KeyError):
        pass  # an entry of another shape: look at each
    unknown = [
        j
        for j, (key, size, digest) in enumerate(zip(keys, sizes, digests, strict=True))
        if digest
        and (
            type(entry := get(key)) is not tuple
            or len(entry) != 4
            or entry[0] != size
            or entry[3] != digest
        )
    ]
    fresh = []
    for j in unknown:
        try:
            st = os.stat(paths[j], dir_fd=dir_fd)
        except OSError:
            continue
        if st.st_size == sizes[j] and st.st_mtime_ns < racy:
            fresh.append((keys[j], (sizes[j], st.st_mtime_ns, st.st_ino, digests[j])))
    state.put_pairs(fresh)


def _batches(big: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """Thread tasks for (index, size, ...) of files of CHUNK bytes or more, spread by bytes.

    Files of BATCH_BYTES or more are a task each; the biggest start first so that one
    does not lengthen the tail.
    """
    batches: list[list] = []
    current: list = []
    current_bytes = 0
    for item in big:
        size = item[1]
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
    batches.sort(key=lambda b: -sum(it[1] for it in b))
    return batches
