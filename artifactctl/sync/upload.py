"""Upload objects from DVC's cache to a remote: only what it lacks, in parallel, each verified.

Push's counterpart of ``sync/fetch.py``. An uploader answers two questions, in this order:
which of these objects does the remote lack (``absent``), then send them (``send``).

- Local-folder remote: the remote's absence of objects is decided by one listing per
  remote folder (``files/md5/xx``), as the fetch decides the cache's; each object is
  copied by threads to a temporary name in its remote folder (``<name>.<tag>.tmp``, as
  DVC names its partial files) while its bytes are hashed, and renamed into place,
  read-only as DVC leaves remote objects, only if the md5 matches its name. So a
  corrupted cache object is never pushed, and a reader of the remote (a pull in another
  clone) never sees a partial object under its name, whatever kills the push.
- S3: ``sync/upload_s3.py`` (listings and HEADs to decide, concurrent PUTs to send).
- Other remotes (gs, azure, ssh, cloud-versioned ones): None; push goes through DVC.

Remote layout (DVC 3): ``<remote>/files/md5/xx/rest``; ``.dir`` objects alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from artifactctl.dvc.config import Remote
from artifactctl.sync.fetch import UP, Fetched, absent_objects, copy_objects, object_size

OnBytes = Callable[[int], None]


class Uploader(Protocol):
    """What push needs of a remote's engine."""

    def absent(self, md5s: Iterable[str]) -> list[str]:
        """The objects among ``md5s`` the remote lacks, sorted."""
        ...

    def send(self, md5s: Sequence[str], on_bytes: OnBytes | None = None) -> Fetched:
        """Upload ``md5s`` from the cache, each verified: ``done``, and ``failed`` (md5 -> why)."""
        ...


class LocalUploader:
    """A local-folder remote (a path, a mounted share)."""

    def __init__(self, cache_dir: Path, remote: Path, jobs: int = 0) -> None:
        self.cache_dir = cache_dir
        self.remote = remote
        self.jobs = jobs

    def absent(self, md5s: Iterable[str]) -> list[str]:
        # also makes the remote folders the objects go to (and the remote itself, as DVC)
        return absent_objects(self.remote, md5s)

    def send(self, md5s: Sequence[str], on_bytes: OnBytes | None = None) -> Fetched:
        source = self.cache_dir / "files" / "md5"
        return copy_objects(source, self.remote, md5s, way=UP, jobs=self.jobs, on_bytes=on_bytes)


def has_own_engine(remote: Remote) -> bool:
    """Whether push's own engine serves ``remote`` (local folders, S3); else DVC's push."""
    if remote.is_local:
        return True
    # cloud-versioned remotes keep files under their own names, not content addresses
    plain = not any(_true(remote.options.get(k)) for k in ("version_aware", "worktree"))
    return remote.is_s3 and plain


@contextlib.contextmanager
def open_uploader(
    root: Path, cache_dir: Path, remote: Remote, jobs: int = 0
) -> Iterator[Uploader | None]:
    """The engine for ``remote`` (None: a kind DVC's own push serves)."""
    if not has_own_engine(remote):
        yield None
    elif remote.is_local:
        yield LocalUploader(cache_dir, remote.local_path(root), jobs)
    else:
        from artifactctl.sync.upload_s3 import S3Uploader

        with S3Uploader(root, remote.name, cache_dir, jobs) as uploader:
            yield uploader


def object_sizes(cache_dir: Path, md5s: Iterable[str]) -> int:
    """The bytes of the cache objects ``md5s`` (absent ones count 0): a progress bar's total."""
    base = os.path.join(cache_dir, "files", "md5", "")
    return sum(object_size(base, md5) for md5 in md5s)


def _true(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")
