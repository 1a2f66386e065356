"""Write workspace files from DVC's cache, verifying the bytes on the way.

``pull`` uses this instead of DVC's checkout: each file is copied from its cache
object to a temporary name, hashed while it is copied, and renamed over the
workspace path only when the MD5 of the bytes written equals the recorded one.
So a corrupted cache object never reaches the workspace, a crash never leaves a
half-written file under a workspace name, DVC never deletes an extra or
preserved file in a tracked folder, and verification costs no second read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from artifactctl.dvc.tracked import cache_object
from artifactctl.journal import step
from artifactctl.safepath import check_no_links

CHUNK = 256 << 10  # reads and writes of 256 KiB
SMALL = 256 << 10  # files below this are copied by batches of them per task
BATCH = 64  # small files per worker task


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
) -> list[Written]:
    """Write each (repository-relative path, recorded md5) from the cache into ``root``.

    ``sizes``: each file's cache object size (0 if absent), to schedule big files first.

    Results come in the order of ``files``. Failures (object missing, checksum
    mismatch, I/O errors) are reported per file; the workspace file is then left
    exactly as it was. ``scratch`` holds the temporary copies (a folder that
    crash recovery removes), normally on the workspace's filesystem.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    for parent in sorted({PurePosixPath(rel).parent for rel, _ in files}):
        # a linked folder on the way would take the write out of the repository
        check_no_links(root, list(parent.parts), where=f"the folder of {parent}/")
        (root / parent).mkdir(parents=True, exist_ok=True)
    copier = _Copier(root, cache_dir, scratch, verify, on_bytes)
    sized = list(enumerate(sizes))
    big = [i for i, size in sorted(sized, key=lambda x: -x[1]) if size >= SMALL]
    small = [i for i, size in sized if size < SMALL]
    tasks = [[i] for i in big] + [small[k : k + BATCH] for k in range(0, len(small), BATCH)]
    results: list[Written | None] = [None] * len(files)

    def run(task: list[int]) -> None:
        for i in task:
            results[i] = copier.copy(i, *files[i])

    workers = min(jobs or min(8, (os.cpu_count() or 1) * 2), len(tasks))
    if workers <= 1:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, tasks))
    return [r for r in results if r is not None]


_local = threading.local()


def _buffer() -> memoryview:
    """One reusable buffer per thread (a fresh 1 MiB per read costs page faults)."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(CHUNK))
    return view


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
        self._started = threading.Lock()  # taken, never released, at the first partial copy

    def _partly_written(self) -> None:
        """The crash step ``pull-writing``: a temporary copy is partly written (once a pull)."""
        if self._started.acquire(blocking=False):
            step("pull-writing")

    def copy(self, index: int, rel: str, md5: str) -> Written:
        src = cache_object(self.cache_dir, md5)
        dst = self.root / rel
        tmp = self.scratch / f"{self.tag}-{index}"
        try:
            try:
                actual = self._copy_hashing(src, tmp)
            except FileNotFoundError:
                if not src.exists():
                    return Written(rel, f"object {md5} is not in the cache")
                raise
            if actual is not None and actual != md5:
                return Written(rel, f"cache object is corrupted (md5 {actual}, expected {md5})")
            _replace(tmp, dst)
            return Written(rel)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise  # the caller turns a full disk into one clear error for the whole pull
            return Written(rel, f"could not write it: {exc.strerror or exc}")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _copy_hashing(self, src: Path, tmp: Path) -> str | None:
        """Copy ``src`` to ``tmp``; the MD5 of the bytes written (None without verify)."""
        if not self.verify:
            shutil.copyfile(src, tmp)
            if self.on_bytes:
                self.on_bytes(os.stat(tmp).st_size)
            return None
        digest = hashlib.md5()
        buffer = _buffer()
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


def _replace(tmp: Path, dst: Path) -> None:
    """Rename ``tmp`` over ``dst``; across filesystems, via a hidden name beside ``dst``."""
    if dst.is_dir() and not dst.is_symlink():
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(dst))
    try:
        os.replace(tmp, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        beside = dst.with_name(f".{dst.name}.artifactctl-tmp")
        shutil.move(tmp, beside)
        os.replace(beside, dst)
