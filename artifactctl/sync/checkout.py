"""Write workspace files from DVC's cache, verifying the bytes on the way.

``pull`` uses this instead of DVC's checkout: each file is made from its cache
object under a temporary name and renamed over the workspace path only when it is
verified. How it is made follows DVC's ``cache.type`` (``links``: reflink,
hardlink, symlink, copy, tried in order as DVC does, a type the filesystem
refuses dropped for the rest of the pull): a copy is hashed while it is copied
(the bytes written are the bytes checked); a link shares the cache object, which
is read-only (DVC's protection, so an edit through a hard or symbolic link cannot
corrupt the cache) and is hashed first unless this pull's fetch just verified it.
So a corrupted cache object never reaches the workspace, a crash never leaves a
half-written file under a workspace name, and DVC never deletes an extra or
preserved file in a tracked folder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from artifactctl.hashing import md5_file
from artifactctl.journal import step
from artifactctl.safepath import check_no_links
from artifactctl.sync.fetch import thread_buffer, unlink_all
from artifactctl.workers import run_all

SMALL = 1 << 20  # files below this are copied by batches of them per task
BATCH = 64  # small files per worker task
LINKS = ("reflink", "hardlink", "symlink", "copy")
DEFAULT_LINKS = ("reflink", "copy")  # DVC's LocalHashFileDB.DEFAULT_CACHE_TYPES
# What DVC's _try_links takes as "this link type does not work here": try the next one.
UNSUPPORTED = frozenset({errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.ENOTTY, errno.ENOSYS})
FICLONE = 0x40049409  # linux/fs.h: ioctl(dst, FICLONE, src) shares src's extents


@dataclass(frozen=True)
class Written:
    """The outcome for one file: ``error`` is None when it was written and verified."""

    rel: str
    error: str | None = None


def write_from_cache(
    root: Path,
    cache_dir: Path,
    files: Sequence[tuple[str, str]],
    sizes: Sequence[int],
    scratch: Path,
    *,
    verify: bool = True,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    links: Sequence[str] = DEFAULT_LINKS,
    verified: Collection[str] = (),
    staged: Collection[str] = (),
    started: StepOnce | None = None,
) -> list[Written]:
    """Write each (repository-relative path, recorded md5) from the cache into ``root``.

    ``sizes``: each file's cache object size (0 if absent), to schedule big files first.

    Results come in the order of ``files``. Failures (object missing, checksum
    mismatch, I/O errors) are reported per file; the workspace file is then left
    exactly as it was. ``scratch`` holds the temporary copies (a folder that
    crash recovery removes), normally on the workspace's filesystem. ``verified``:
    objects whose bytes this process has just hashed (a link to them is not re-read);
    ``staged``: objects of which the fetch wrote a verified copy, ``<scratch>/<md5>``, from
    the same bytes as the cache's (by copy, the first file with that md5 is renamed from
    it, not copied).
    ``started``: the crash step ``pull-writing``, shared with the fetch that stages.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    for parent in map(PurePosixPath, sorted({rel.rpartition("/")[0] for rel, _ in files})):
        # a linked folder on the way would take the write out of the repository
        check_no_links(root, list(parent.parts), where=f"the folder of {parent}/")
        (root / parent).mkdir(parents=True, exist_ok=True)
    copier = _Copier(root, cache_dir, scratch, verify, on_bytes)
    copier.links = [t for t in links if t in LINKS] or list(DEFAULT_LINKS)
    copier.verified = verified
    copier.staged = staged if isinstance(staged, set) else set(staged)  # taken as they go
    copier.started = started or StepOnce()
    sized = list(enumerate(sizes))
    big = [i for i, size in sorted(sized, key=lambda x: -x[1]) if size >= SMALL]
    small = [i for i, size in sized if size < SMALL]
    tasks = [[i] for i in big] + [small[k : k + BATCH] for k in range(0, len(small), BATCH)]
    results: list[Written | None] = [None] * len(files)

    def run(task: list[int]) -> None:
        for i in task:
            results[i] = copier.copy(i, *files[i])

    run_all(run, tasks, jobs or min(16, (os.cpu_count() or 1) * 4))
    return [r for r in results if r is not None]


class StepOnce:
    """A crash step reached at the first partly written temporary copy (once a command):
    ``pull-writing`` by default, ``push-sending`` for push."""

    def __init__(self, name: str = "pull-writing") -> None:
        self.name = name
        self._taken = threading.Lock()  # taken, never released, at the first partial copy

    def __call__(self) -> None:
        if self._taken.acquire(blocking=False):
            step(self.name)


def working_links(links: Sequence[str], cache_dir: Path, scratch: Path) -> list[str]:
    """``links`` from the first type that works from the cache into ``scratch`` (DVC's test).

    Probes with a one-byte file, as DVC's ``test_links`` does; ``copy`` always works.
    """
    links = [t for t in links if t in LINKS] or list(DEFAULT_LINKS)
    src = cache_dir / f".artifactctl-probe-{os.getpid()}"
    dst = f"{scratch}{os.sep}probe"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        scratch.mkdir(parents=True, exist_ok=True)
        src.write_bytes(b"p")
    except OSError:
        return links  # a read-only cache, say: each file tries the types in turn
    try:
        for i, link in enumerate(links):
            if link == "copy":
                return links[i:]
            try:
                _link(link, src, dst)
                return links[i:]
            except OSError as exc:
                if exc.errno not in UNSUPPORTED:
                    return links[i:]  # not a "cannot link here": the checkout will say
            finally:
                unlink_all(dst)
        return links[-1:]
    finally:
        unlink_all(os.fspath(src))


class _Copier:
    def __init__(
        self,
        root: Path,
        cache_dir: Path,
        scratch: Path,
        verify: bool,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self.root = root
        self.cache_dir = cache_dir
        self.scratch = scratch
        self.verify = verify
        self.on_bytes = on_bytes
        self.tag = os.getpid()
        self.objects = os.path.join(cache_dir, "files", "md5", "")
        self.base = os.path.join(root, "")
        self.links: list[str] = list(DEFAULT_LINKS)
        self.verified: Collection[str] = ()
        self.staged: set[str] = set()
        self.started = StepOnce()
        self._dropping = threading.Lock()

    def _partly_written(self) -> None:
        self.started()

    def _take_staged(self, md5: str) -> str | None:
        """The fetch's verified copy of ``md5``, for the first file that asks."""
        with self._dropping:
            if md5 not in self.staged:
                return None
            self.staged.discard(md5)
        return f"{self.scratch}{os.sep}{md5}"

    def copy(self, index: int, rel: str, md5: str) -> Written:
        # strings, not Paths: at 50,000 files pathlib's joins were a tenth of the pull
        src = f"{self.objects}{md5[:2]}{os.sep}{md5[2:]}"
        dst = f"{self.base}{rel}"
        tmp = f"{self.scratch}{os.sep}{self.tag}-{index}"
        try:
            if self.links[0] == "copy" and (staged := self._take_staged(md5)) is not None:
                _replace(staged, dst)  # verified as it was written, from the fetched bytes
                return Written(rel)
            try:
                actual = self._make(src, tmp, md5)
            except FileNotFoundError:
                if not os.path.exists(src):
                    return Written(rel, f"object {md5} is not in the cache")
                raise
            if actual is not None and actual != md5:
                unlink_all(tmp)
                return Written(rel, f"cache object is corrupted (md5 {actual}, expected {md5})")
            _replace(tmp, dst)
            return Written(rel)
        except OSError as exc:
            unlink_all(tmp)
            if exc.errno == errno.ENOSPC:
                raise  # the caller turns a full disk into one clear error for the whole pull
            if exc.errno == errno.EISDIR:
                return Written(rel, "could not write it: a folder is in the way")
            return Written(rel, f"could not write it: {exc.strerror or exc}")

    def _make(self, src: str, tmp: str, md5: str) -> str | None:
        """Make ``tmp`` from ``src`` by the first link type that works here.

        Returns the MD5 the file was checked against (None: not checked).
        """
        while True:
            link = self.links[0]
            if link == "copy":
                return self._copy_hashing(src, tmp)
            checked = None
            if self.verify and md5 not in self.verified:
                checked = md5_file(src)
                if checked != md5:
                    return checked
            try:
                self._partly_written()
                _link(link, src, tmp)
                return checked
            except OSError as exc:
                if exc.errno not in UNSUPPORTED:
                    raise
                unlink_all(tmp)
                with self._dropping:
                    if self.links[0] == link and len(self.links) > 1:
                        self.links.pop(0)
                    elif self.links == [link]:
                        raise

    def _copy_hashing(self, src: str, tmp: str) -> str | None:
        """Copy ``src`` to ``tmp``; the MD5 of the bytes written (None without verify)."""
        if not self.verify:
            shutil.copyfile(src, tmp)
            if self.on_bytes:
                self.on_bytes(os.stat(tmp).st_size)
            return None
        digest = hashlib.md5()
        buffer = thread_buffer()
        fin = os.open(src, os.O_RDONLY)
        try:
            fout = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                first = True
                while n := os.readv(fin, [buffer]):
                    view = buffer[:n]
                    digest.update(view)
                    while view:
                        view = view[os.write(fout, view) :]
                    if self.on_bytes:
                        self.on_bytes(n)
                    if first and n == len(buffer):  # a whole chunk: the file may go on
                        self._partly_written()
                    first = False
            finally:
                os.close(fout)
        finally:
            os.close(fin)
        return digest.hexdigest()


def _link(link: str, src: str | Path, tmp: str) -> None:
    """``tmp`` becomes a link of type ``link`` to the cache object ``src``, as DVC makes it."""
    if link == "hardlink":
        os.link(src, tmp)
    elif link == "symlink":
        os.symlink(os.path.abspath(src), tmp)
    else:  # reflink: a clone is the user's own file, writable (DVC chmods it 0o666 & ~umask)
        fin = os.open(src, os.O_RDONLY)
        try:
            fout = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                fcntl.ioctl(fout, FICLONE, fin)
            finally:
                os.close(fout)
        finally:
            os.close(fin)


def _replace(tmp: str, dst: str) -> None:
    """Rename ``tmp`` over ``dst``; across filesystems, via a hidden name beside ``dst``."""
    try:
        os.replace(tmp, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        beside = Path(dst).with_name(f".{Path(dst).name}.artifactctl-tmp")
        shutil.move(tmp, beside)
        os.replace(beside, dst)
