"""The hash state: (size, mtime_ns, inode) -> md5 of files, so unchanged files are not re-read.

Shared by verify, status, pull and clean (see ``state_file``).
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

from artifactctl.fs.atomic import atomic_write_bytes

RACY_NS = 2_000_000_000  # files modified this recently are never recorded in the state
STATE_FILE = "hashes.marshal"  # under the project's state folder (see state_file)

Entry = tuple[int, int, int, str]  # size, mtime_ns, inode, digest


def state_file(project: object) -> Path:
    """Where a project keeps its hash state (shared by verify, status, pull and clean)."""
    return project.state_dir / STATE_FILE  # type: ignore[attr-defined]


class HashState:
    """Remembers (size, mtime_ns, inode) -> md5 so that unchanged files are not re-read.

    Kept as one marshal file (a dict of tuples: it loads in a third of the time JSON
    takes, and a re-check of 20,000 files reads little else) under artifactctl's state
    folder; keys are repository-relative paths. Only hashes computed from the file as
    it is now are recorded, so a stale entry can never vouch for new content.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._dirty = False

    @cached_property
    def _entries(self) -> dict[str, Entry]:
        if self.path is None:
            return {}
        try:
            data = marshal.loads(self.path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return {}  # absent or unreadable: start afresh (it is only a cache)
        return data if isinstance(data, dict) else {}

    def get(self, key: str, st: os.stat_result) -> str | None:
        """The recorded digest of ``key`` if ``st`` is the file it was computed from."""
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

    def put_pairs(self, fresh: Iterable[tuple[str, Entry]]) -> None:
        """Record (key, (size, mtime_ns, inode, digest)) pairs."""
        entries = self._entries
        changed = [(key, entry) for key, entry in fresh if entries.get(key) != entry]
        if changed:  # re-hashing unchanged files needs no rewrite
            entries.update(changed)
            self._dirty = True

    def save(self) -> None:
        if self.path is not None and self._dirty:
            atomic_write_bytes(self.path, marshal.dumps(self._entries))
            self._dirty = False
