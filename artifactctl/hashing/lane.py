"""The small-file lane: a tight loop over small files, split across forked helpers.

Files under CHUNK cost Python and system calls, not digesting, which threads cannot
run in parallel: with many of them, forked helpers take chunks of the list from a
queue (see ``_small_lane``; ``artifactctl.early`` starts one before the command has
even planned).

It imports no other module of artifactctl (nor pathlib or json): a head-start helper
imports it before anything else and starts hashing as soon as it has.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from functools import partial

CHUNK = 64 << 10  # 64 KiB reads: the buffer stays in cache; 1 MiB costs 4x the system time
ALGORITHMS = ("md5", "sha256")  # made by their hashlib constructors (faster than hashlib.new)

# The small-file lane's results as columns: digests (None with an error, "" for a file
# of CHUNK bytes or more, left to the threads), sizes, mtimes, inodes, {index: error}.
Lane = tuple[list[str | None], list[int], list[int], list[int], dict[int, str]]
FORK_MIN_FILES = 2000  # below this a forked helper costs more than it saves
PROGRESS_EVERY = 1024  # files between progress updates in the lane


def hasher(algorithm: str) -> Callable[..., hashlib._Hash]:
    """The constructor of ``algorithm``'s hash objects (the named ones are the fastest)."""
    if algorithm in ALGORITHMS:
        return getattr(hashlib, algorithm)
    return partial(hashlib.new, algorithm)


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
    early = sys.modules.get("artifactctl.verify.early")
    head = None  # a helper started before planning (see artifactctl.verify.early)
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
    new = hasher(algorithm)
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
    new = hasher(algorithm)
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
