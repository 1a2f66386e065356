"""Measuring and deleting folder trees through folder descriptors, never following links.

Every call works relative to an open folder (``openat``/``unlinkat`` and friends),
so a path component swapped for a symlink mid-walk can never lead outside the
tree: a folder is only entered when it opens with ``O_NOFOLLOW | O_DIRECTORY``,
and anything else (a file, a link, a socket) is unlinked as itself.

Sizes follow ``lstat``: every entry that is not a folder counts with its own
size (a link counts as the link), folders count nothing. ``measure`` and
``remove`` report the same figures for the same tree, so removing a tree can
report its size without a separate walk.

``remove_all`` deletes many trees in threads: on a disk an unlink often waits
for it (0.1-4 ms each on a cloud VM's ext4), and the threads overlap those
waits (``os.unlink`` and friends release the GIL). Measured in README (Cleanup).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# open() of a link with O_NOFOLLOW, or of a non-folder with O_DIRECTORY
_NOT_A_FOLDER = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})
# Deleting waits on the disk, not on the cores: more threads than cores overlap more waits.
REMOVE_THREADS = 8


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
            entries = list(it)  # deleting while scanning could skip entries
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


def remove_all(parent_fd: int, names: Iterable[str]) -> Iterator[tuple[int, int]]:
    """``remove`` each of ``names`` (in ``parent_fd``) in threads; the figures of each, in order."""
    with ThreadPoolExecutor(REMOVE_THREADS, thread_name_prefix="remove") as pool:
        yield from pool.map(functools.partial(remove, parent_fd), names)


def is_dir_at(parent_fd: int, name: str) -> bool:
    """``parent_fd``/``name`` is a real folder (not a link to one)."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
