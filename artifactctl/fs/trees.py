"""Measuring and deleting folder trees through folder descriptors, never following links.

Every call works relative to an open folder (``openat``/``unlinkat`` and friends),
so a path component swapped for a symlink mid-walk can never lead outside the
tree: a folder is only entered when it opens with ``O_NOFOLLOW | O_DIRECTORY``,
and anything else (a file, a link, a socket) is unlinked as itself.

Sizes follow ``lstat``: every entry that is not a folder counts with its own
size (a link counts as the link), folders count nothing. ``measure`` and
``remove`` report the same figures for the same tree, so removing a tree can
report its size without a separate walk.

Deleting many small files is kernel work; ``remove_many`` shares it between
forked copies of this process, one per core (at most 4), which take trees from
one queue and report their figures through a pipe. There are no lanes while
this process runs other threads (a fork could deadlock). A lane notices when its
parent has died and stops, leaving the rest to the crash recovery of the caller.
"""

from __future__ import annotations

import contextlib
import errno
import marshal
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
MAX_LANES = 4
MIN_PER_LANE = 32  # below this, a fork costs more than it saves
# open() of a link with O_NOFOLLOW, or of a non-folder with O_DIRECTORY
_NOT_A_FOLDER = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})

T = TypeVar("T")
R = TypeVar("R")


def open_dir(name: str | os.PathLike[str], dir_fd: int | None = None) -> int:
    """A descriptor of the folder ``name`` (relative to ``dir_fd``); OSError if it is a link."""
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def measure(parent_fd: int, name: str) -> tuple[int, int]:
    """(bytes, entries) under the folder ``parent_fd``/``name``; (0, 0) if unreadable."""
    try:
        fd = open_dir(name, parent_fd)
    except OSError:
        return 0, 0
    size = files = 0
    try:
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        s, f = measure(fd, entry.name)
                        size += s
                        files += f
                    else:
                        size += entry.stat(follow_symlinks=False).st_size
                        files += 1
                except OSError:
                    continue
    finally:
        os.close(fd)
    return size, files


def remove(parent_fd: int, name: str) -> tuple[int, int]:
    """Delete ``parent_fd``/``name`` and everything in it; (bytes, entries) it held.

    Best effort: whatever cannot be deleted is left in place (the caller checks
    that the tree is gone). A link or file named ``name`` is unlinked as itself.
    """
    try:
        fd = open_dir(name, parent_fd)
    except OSError as exc:
        if exc.errno not in _NOT_A_FOLDER:
            return 0, 0  # gone already, or unreadable: left for the caller's check
        try:
            size = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_size
            os.unlink(name, dir_fd=parent_fd)
        except OSError:
            return 0, 0
        return size, 1
    size = files = 0
    try:
        with os.scandir(fd) as it:
            entries = list(it)
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    s, f = remove(fd, entry.name)
                    size += s
                    files += f
                    continue
                size += entry.stat(follow_symlinks=False).st_size
                files += 1
                os.unlink(entry.name, dir_fd=fd)
            except OSError:
                continue
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent_fd)
    return size, files


def lanes_for(count: int) -> int:
    """How many processes should share the work on ``count`` trees."""
    if count < 2 * MIN_PER_LANE or not hasattr(os, "fork"):
        return 1
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return 1  # forking a process with threads is unsafe
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_LANES, count // MIN_PER_LANE))


def in_lanes(
    items: Sequence[T],
    work: Callable[[T], R],
    before: Callable[[], object] | None = None,
    ready: Iterable[Iterable[int]] | None = None,
    lanes: int | None = None,
) -> list[R | None]:
    """``work(item)`` for items, shared between ``lanes`` (default ``lanes_for``) processes.

    The lanes take item numbers from one queue (a pipe), so a lane that the
    machine slows down simply takes fewer. ``ready`` yields the numbers of the
    items to work on, batch by batch, as the caller readies them (default: all,
    at once); the forked lanes start on a batch while the next one is readied.
    This process then calls ``before()`` (other work to overlap with the lanes)
    and becomes a lane too. Each forked lane sends its results (marshal-able
    values) through a pipe. Results come back in item order; None for an item
    never readied or taken by a lane that died before reporting. A forked lane
    stops taking items once this process has died (say, SIGKILL).
    """
    batches = [range(len(items))] if ready is None else ready
    lanes = lanes_for(len(items)) if lanes is None else lanes
    results: list[R | None] = [None] * len(items)
    if lanes == 1:
        numbers = [i for batch in batches for i in batch]
        if before is not None:
            before()
        for i in numbers:
            results[i] = work(items[i])
        return results
    queue, feed = os.pipe()
    children: list[tuple[int, int]] = []  # (pid, read end of its results)
    try:
        for _ in range(1, lanes):
            try:
                read, write = os.pipe()
            except OSError:
                break  # out of descriptors: fewer lanes
            try:
                pid = os.fork()
            except OSError:
                os.close(read)
                os.close(write)
                break  # out of processes: fewer lanes
            if pid == 0:  # pragma: no cover - a forked lane's coverage is not collected
                os.close(feed)
                _lane(items, work, queue, read, write)
            os.close(write)
            children.append((pid, read))
        try:
            for batch in batches:
                data = b"".join(i.to_bytes(4, "little") for i in batch)
                for start in range(0, len(data), 4096):
                    os.write(feed, data[start : start + 4096])  # atomic: whole numbers only
        finally:
            os.close(feed)
        if before is not None:
            before()
        for i, result in _take(items, work, queue, _always):
            results[i] = result
    finally:
        os.close(queue)
        for pid, read in children:
            with os.fdopen(read, "rb") as pipe:
                data = pipe.read()
            os.waitpid(pid, 0)
            try:
                done = marshal.loads(data)
            except (EOFError, ValueError, TypeError):
                done = []  # the lane died
            for i, result in done:
                results[i] = result
    return results


def _always() -> bool:
    return True


def _take(
    items: Sequence[T], work: Callable[[T], R], queue: int, alive: Callable[[], bool]
) -> list[tuple[int, R]]:
    """Take item numbers from the queue until it is closed and empty; (number, result) each."""
    done = []
    while alive() and (entry := os.read(queue, 4)):
        i = int.from_bytes(entry, "little")
        done.append((i, work(items[i])))
    return done


def _lane(items: Sequence[T], work: Callable[[T], R], queue: int, read: int, write: int) -> None:
    """A forked lane: take items until the queue is empty, send the results, exit at once."""
    try:
        os.close(read)
        parent = os.getppid()
        data = marshal.dumps(_take(items, work, queue, lambda: os.getppid() == parent))
        view = memoryview(data)
        while view:
            view = view[os.write(write, view) :]
    finally:
        os._exit(0)


def remove_many(
    parent_fd: int,
    names: Sequence[str],
    before: Callable[[], object] | None = None,
    ready: Iterable[Iterable[int]] | None = None,
    lanes: int | None = None,
) -> list[tuple[int, int] | None]:
    """``remove`` each of ``names`` (in ``parent_fd``) in lanes; their figures in order.

    ``before``, ``ready`` and ``lanes`` are as for ``in_lanes``; an item never readied
    gets None.
    """
    fed: list[int] = []

    def track(batches: Iterable[Iterable[int]]) -> Iterator[list[int]]:
        for batch in batches:
            fed.extend(batch := list(batch))
            yield batch

    results = in_lanes(
        names,
        lambda name: remove(parent_fd, name),
        before,
        track(ready or [range(len(names))]),
        lanes,
    )
    for i in fed:
        if results[i] is None:  # its lane died: finish that tree here
            results[i] = remove(parent_fd, names[i])
    return results


def is_dir_at(parent_fd: int, name: str) -> bool:
    """``parent_fd``/``name`` is a real folder (not a link to one)."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
