"""The hash state: (size, mtime_ns, inode) -> md5 of files, so unchanged files are not re-read.

Shared by verify, status, pull and clean (see ``state_file``).
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterable
from pathlib import Path

RACY_NS = 2_000_000_000  # files modified this recently are never recorded in the state
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
            from artifactctl.fs.atomic import atomic_write_bytes

            atomic_write_bytes(self.path, marshal.dumps(self._entries))
            self._dirty = False
