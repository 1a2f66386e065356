"""Atomic, durable file writes: temporary file, fsync, rename, fsync the folder.

A crash never leaves a half-written file under its final name. The file written keeps
the mode of the file it replaces; a new file gets ``0o666 & ~umask``, as ``open`` would
give it (``mkstemp`` alone would make every file 0600).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_umask: int | None = None
_umask_lock = threading.Lock()


def process_umask() -> int:
    """The process's umask, read once.

    From ``/proc/self/status`` where Linux shows it; elsewhere by setting and at once
    restoring it (``os.umask`` has no read-only form), under a lock, before any file
    is written by this module.
    """
    global _umask
    with _umask_lock:
        if _umask is None:
            _umask = _read_umask()
        return _umask


def _read_umask() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o077)
    os.umask(old)
    return old


def new_file_mode() -> int:
    return 0o666 & ~process_umask()


def new_dir_mode() -> int:
    return 0o777 & ~process_umask()


def mode_for(path: Path) -> int:
    """The permission bits a file written to ``path`` gets: the existing regular file's
    (set-id bits dropped), or a new file's under the umask."""
    try:
        st = os.stat(path)
    except OSError:
        return new_file_mode()
    return stat.S_IMODE(st.st_mode) & 0o1777 if stat.S_ISREG(st.st_mode) else new_file_mode()


def temp_beside(path: Path) -> tuple[int, str]:
    """A new, exclusive file ``.<name>.<random>.tmp`` beside ``path``: (descriptor, path).

    Beside, so that the final rename stays on one file system; named after the
    target, so that a leftover of a crash is recognisable.
    """
    import tempfile  # here: a command that writes nothing need not load it

    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is either the old file or the whole new one."""
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)
        shutil.copystat(src, tmp)


def read_json(path: Path) -> Any:
    """A JSON file's content. Anything but a regular file (a FIFO would block forever) is
    an OSError, which callers already treat as an unreadable file."""
    from artifactctl.safepath import NotRegularFile, open_regular

    try:
        fd = open_regular(path)
    except NotRegularFile as exc:
        raise OSError(errno.EINVAL, "not a regular file", str(path)) from exc
    with os.fdopen(fd, encoding="utf-8") as fh:
        return json.load(fh)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed to it.

    For writers that want a file name (``df.to_csv(tmp)``, ``joblib.dump(obj, tmp)``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode_for(path))  # after the writes: the mode may be read-only
        with open(tmp, "rb") as fh:  # fsync needs no write access
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
