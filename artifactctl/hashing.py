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
import marshal
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import repeat
from operator import itemgetter
from pathlib import Path

CHUNK = 64 << 10  # 64 KiB reads: the buffer stays in cache; 1 MiB costs 4x the system time
BATCH_BYTES = 8 << 20  # a worker task hashes up to this many bytes of small files
ALGORITHMS = ("md5", "sha256")
RACY_NS = 2_000_000_000  # files modified this recently are never recorded in the state

_local: list = []  # one threading.local, made on first use (threads hash big files only)


def _buffer() -> memoryview:
    """One reusable read buffer per thread (allocating one per small file costs more
    than hashing it)."""
    if not _local:
        import threading

        _local.append(threading.local())
    local = _local[0]
    view = getattr(local, "view", None)
    if view is None:
        view = local.view = memoryview(bytearray(CHUNK))
    return view


def digest_file(
    path: Path | str,
    algorithm: str = "md5",
    size: int = -1,
    on_bytes: Callable[[int], None] | None = None,
    dir_fd: int | None = None,
) -> str:
    """Hex digest of a file's bytes. ``size`` (from a stat) lets a small file be read
    in one system call; a relative ``path`` is relative to ``dir_fd`` when given."""
    digest = getattr(hashlib, algorithm)() if algorithm in ALGORITHMS else hashlib.new(algorithm)
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
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


_MEMO = "\0"  # prefix of memo_put's keys: no path starts with NUL
STATE_FILE = "hashes.marshal"  # under the project's state folder (see state_file)


def state_file(project: object) -> Path:
    """Where a project keeps its hash state (shared by verify, status, pull and clean)."""
    return project.state_dir / STATE_FILE  # type: ignore[attr-defined]


class HashState:
    """Remembers (size, mtime_ns, inode) -> md5 so that unchanged files are not re-read.

    Kept as one marshal file (a dict of tuples: it loads in a third of the time JSON
    takes) under artifactctl's state folder; keys are repository-relative paths. Only
    hashes that were computed from the file as it is now are recorded, so a stale
    entry can never vouch for new content.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, tuple] | None = None  # read on first use (see load)
        self._dirty = False

    def load(self) -> None:
        """Read the state file now (it is read on first use otherwise)."""
        if self._data is not None:
            return
        self._data = {}
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as fh:
                data = marshal.loads(fh.read())
        except (OSError, EOFError, ValueError, TypeError):
            return  # absent or unreadable: start afresh (it is only a cache)
        if isinstance(data, dict):
            self._data = data

    @property
    def _entries(self) -> dict[str, tuple]:
        if self._data is None:
            self.load()
        assert self._data is not None
        return self._data

    def get(self, key: str, st: os.stat_result) -> str | None:
        entry = self._entries.get(key)
        if (
            type(entry) is tuple
            and len(entry) == 4
            and entry[0] == st.st_size
            and entry[1] == st.st_mtime_ns
            and entry[2] == st.st_ino
        ):
            return entry[3]
        return None

    def put(self, key: str, st: os.stat_result, md5: str) -> None:
        self.put_raw(key, st.st_size, st.st_mtime_ns, st.st_ino, md5)

    def put_raw(self, key: str, size: int, mtime_ns: int, inode: int, md5: str) -> None:
        entry = (size, mtime_ns, inode, md5)
        entries = self._entries
        if entries.get(key) != entry:  # re-hashing unchanged files needs no rewrite
            entries[key] = entry
            self._dirty = True

    def put_pairs(self, fresh: Iterable[tuple[str, tuple[int, int, int, str]]]) -> None:
        """Record (key, (size, mtime_ns, inode, md5)) pairs, as put_raw does for each."""
        entries = self._entries
        get = entries.get
        changed = [(key, entry) for key, entry in fresh if get(key) != entry]
        if changed:
            entries.update(changed)
            self._dirty = True

    def memo_get(self, name: str) -> object:
        """Something else a command keeps here (not a file's hash), or None."""
        return self._entries.get(_MEMO + name)

    def memo_put(self, name: str, value: object) -> None:
        key = _MEMO + name
        if self._entries.get(key) != value:
            self._entries[key] = value  # type: ignore[assignment]
            self._dirty = True

    def forget(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if self.path is not None and self._dirty:
            from artifactctl.fsutil import atomic_write_bytes

            atomic_write_bytes(self.path, marshal.dumps(self._entries))
            self._dirty = False


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


# The small-file lane's results as columns: digests (None with an error, "" for a file
# of CHUNK bytes or more, left to the threads), sizes, mtimes, inodes, {index: error}.
Lane = tuple[list[str | None], list[int], list[int], list[int], dict[int, str]]
FORK_MIN_FILES = 2000  # below this a forked helper costs more than it saves
PROGRESS_EVERY = 1024  # files between progress updates in the lane


def _small_lane(
    paths: list[str],
    algorithm: str,
    jobs: int,
    on_bytes: Callable[[int], None] | None,
    meanwhile: Callable[[], object] | None = None,
    dir_fd: int | None = None,
    bare: bool = False,
) -> Lane:
    """Digest small files; with many of them and spare cores, forked helpers share the work.

    The files are cut into chunks whose numbers wait in a pipe: each process (this one
    once its ``meanwhile`` work is done, and the helpers at once) takes the next number
    and hashes that chunk, so all finish together however busy the machine is. Helpers
    send their chunks back through a pipe (marshal); the chunks of a helper that fails
    are hashed here, so a fork can never lose a result.
    """
    procs, count = lane_plan(len(paths), jobs)
    if procs < 2 or not hasattr(os, "fork"):
        out = _lane(paths, algorithm, on_bytes, dir_fd, bare)
        if meanwhile is not None:
            meanwhile()
        return out
    bounds = [(len(paths) * k // count, len(paths) * (k + 1) // count) for k in range(count)]
    early = sys.modules.get("artifactctl.early")
    head = None  # a helper started before planning (see artifactctl.early)
    if early is not None and dir_fd is not None and bare and algorithm == "md5":
        head = early.adopt(len(paths), count, dir_fd)
    if head is not None:
        queue = head[0]
        helpers = [head[1]]
        helpers += [
            _fork_lane(paths, bounds, queue, algorithm, dir_fd, bare) for _ in range(procs - 2)
        ]
    else:
        try:
            queue, feed = os.pipe()
        except OSError:
            queue = -1
        if queue < 0:
            helpers = []
        else:
            os.write(feed, bytes(range(count)))  # a pipe holds far more than MAX_CHUNKS bytes
            os.close(feed)
            helpers = [
                _fork_lane(paths, bounds, queue, algorithm, dir_fd, bare) for _ in range(procs - 1)
            ]
    if meanwhile is not None:
        meanwhile()
    own: dict[int, Lane] = {}
    if queue >= 0:
        own = _take_chunks(paths, bounds, queue, algorithm, on_bytes, dir_fd, bare)
        os.close(queue)
    done: dict[int, Lane] = {}
    for n, helper in enumerate(helpers):
        got = _collect(helper) or {}
        if n == 0 and head is not None and not early.confirm(got, head[2], dir_fd):
            continue  # it did not hash these very files: its chunks are redone below
        # a chunk that came back broken is redone below
        for k, (lo, hi) in enumerate(bounds):
            if _whole(got.get(k), hi - lo, bare):
                done[k] = got[k]
    if on_bytes:
        on_bytes(sum(_hashed_bytes(part) for part in done.values()))
    done.update(own)
    digests: list[str | None] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    inos: list[int] = []
    errors: dict[int, str] = {}
    for k, (lo, hi) in enumerate(bounds):
        part = done.get(k)
        if not _whole(part, hi - lo, bare):  # a helper's chunk that never came back
            part = _lane(paths[lo:hi], algorithm, on_bytes, dir_fd, bare)
        assert part is not None
        digests += part[0]
        sizes += part[1]
        mtimes += part[2]
        inos += part[3]
        for j, error in part[4].items():
            errors[lo + j] = error
    return digests, sizes, mtimes, inos, errors


def _hashed_bytes(part: Lane) -> int:
    return sum(size for digest, size in zip(part[0], part[1], strict=True) if digest)


def _whole(part: Lane | None, n: int, bare: bool) -> bool:
    return (
        isinstance(part, tuple)
        and len(part) == 5
        and all(isinstance(c, list) for c in part[:4])
        and len(part[0]) == len(part[1]) == n
        and len(part[2]) == len(part[3]) == (0 if bare else n)
        and isinstance(part[4], dict)
    )


def lane_plan(files: int, jobs: int) -> tuple[int, int]:
    """(processes, chunks) for the small-file lane of this many files."""
    procs = min(_cores(), jobs if jobs > 0 else 64, files // (FORK_MIN_FILES // 2))
    return procs, min(MAX_CHUNKS, max(procs * 4, files // CHUNK_FILES))


CHUNK_FILES = 256  # files per chunk of the small-file lane (a few milliseconds of work)
MAX_CHUNKS = 250  # chunk numbers travel as single bytes


def _take_chunks(
    paths: list[str],
    bounds: list[tuple[int, int]],
    queue: int,
    algorithm: str,
    on_bytes: Callable[[int], None] | None,
    dir_fd: int | None,
    bare: bool,
) -> dict[int, Lane]:
    """Hash chunks whose numbers this process reads from ``queue`` until it is empty."""
    done = {}
    read = os.read
    while token := read(queue, 1):
        lo, hi = bounds[token[0]]
        done[token[0]] = _lane(paths[lo:hi], algorithm, on_bytes, dir_fd, bare)
    return done


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _fork_lane(
    paths: list[str],
    bounds: list[tuple[int, int]],
    queue: int,
    algorithm: str,
    dir_fd: int | None,
    bare: bool,
) -> tuple[int, int] | None:
    """Start a forked helper taking chunks from ``queue``; (pid, read end of its pipe)."""
    try:
        rfd, wfd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        return None
    if pid == 0:  # the helper: hash, send, and leave without running any parent cleanup
        code = 1
        try:
            os.close(rfd)
            got = _take_chunks(paths, bounds, queue, algorithm, None, dir_fd, bare)
            view = memoryview(marshal.dumps(got))
            while view:
                view = view[os.write(wfd, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    return pid, rfd


def _collect(helper: tuple[int, int] | None) -> dict[int, Lane] | None:
    """A helper's chunks, or None if it could not deliver them."""
    if helper is None:
        return None
    pid, rfd = helper
    chunks = []
    try:
        while chunk := os.read(rfd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        got = marshal.loads(b"".join(chunks))
    except (EOFError, ValueError, TypeError):
        return None
    return got if isinstance(got, dict) else None


def _lane(
    paths: list[str],
    algorithm: str,
    on_bytes: Callable[[int], None] | None,
    dir_fd: int | None = None,
    bare: bool = False,
) -> Lane:
    """The tight loop: open, fstat, read size + 1 bytes, digest. Kept free of objects
    and calls it does not need: at 4 KiB per file, Python's own work is the cost.

    ``bare``: no fstat (mtimes and inodes stay empty); one read of up to CHUNK bytes
    tells a small file's size, and a file of CHUNK bytes or more goes to the threads.
    """
    if bare:
        return _bare_lane(paths, algorithm, on_bytes, dir_fd)
    new = (
        getattr(hashlib, algorithm) if algorithm in ALGORITHMS else partial(hashlib.new, algorithm)
    )
    digests: list[str | None] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    inos: list[int] = []
    errors: dict[int, str] = {}
    add_digest, add_size, add_mtime, add_ino = (
        digests.append,
        sizes.append,
        mtimes.append,
        inos.append,
    )
    open_, fstat, read, close, rdonly = os.open, os.fstat, os.read, os.close, os.O_RDONLY
    chunk = CHUNK
    pending = 0
    for n, path in enumerate(paths):
        if on_bytes and n % PROGRESS_EVERY == 0 and pending:
            on_bytes(pending)
            pending = 0
        try:
            fd = open_(path, rdonly, dir_fd=dir_fd)
        except OSError as exc:
            errors[n] = "missing" if isinstance(exc, FileNotFoundError) else _text(exc)
            add_digest(None)
            add_size(0)
            add_mtime(0)
            add_ino(0)
            continue
        size = 0
        try:
            st = fstat(fd)
            size = st.st_size
            digest = ""  # big or growing: to the threads
            if size < chunk:
                data = read(fd, size + 1)
                if len(data) <= size:  # the whole file (a shorter one stops early too)
                    digest = new(data).hexdigest()
                    pending += size
        except OSError as exc:
            errors[n] = _text(exc)
            add_digest(None)
            add_size(size)
            add_mtime(0)
            add_ino(0)
            continue
        finally:
            close(fd)
        add_digest(digest)
        add_size(size)
        add_mtime(st.st_mtime_ns)
        add_ino(st.st_ino)
    if on_bytes and pending:
        on_bytes(pending)
    return digests, sizes, mtimes, inos, errors


def _bare_lane(
    paths: list[str],
    algorithm: str,
    on_bytes: Callable[[int], None] | None,
    dir_fd: int | None,
) -> Lane:
    new = (
        getattr(hashlib, algorithm) if algorithm in ALGORITHMS else partial(hashlib.new, algorithm)
    )
    digests: list[str | None] = []
    sizes: list[int] = []
    errors: dict[int, str] = {}
    add_digest, add_size = digests.append, sizes.append
    open_, read, close, rdonly = os.open, os.read, os.close, os.O_RDONLY
    chunk = CHUNK
    pending = 0
    for n, path in enumerate(paths):
        if on_bytes and n % PROGRESS_EVERY == 0 and pending:
            on_bytes(pending)
            pending = 0
        try:
            fd = open_(path, rdonly, dir_fd=dir_fd)
        except OSError as exc:
            errors[n] = "missing" if isinstance(exc, FileNotFoundError) else _text(exc)
            add_digest(None)
            add_size(0)
            continue
        try:
            data = read(fd, chunk)
        except OSError as exc:
            errors[n] = _text(exc)
            add_digest(None)
            add_size(0)
            continue
        finally:
            close(fd)
        size = len(data)
        if size < chunk:  # the whole file
            add_digest(new(data).hexdigest())
            pending += size
        else:
            add_digest("")  # CHUNK bytes or more: to the threads
        add_size(size)
    if on_bytes and pending:
        on_bytes(pending)
    return digests, sizes, [], [], errors


def _text(exc: OSError) -> str:
    return exc.strerror or str(exc)


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
