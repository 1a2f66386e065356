"""Fetch objects from a local-folder remote into DVC's cache: in parallel, each verified.

DVC's own fetch spends most of a many-small-files pull in per-object bookkeeping
(index building, existence checks, locks). Here each object is one pass: open it on
the remote, copy it to a temporary name in its cache folder while hashing the bytes,
and rename it into place (read-only, as DVC protects cache objects) only when the
MD5 matches its name. So a corrupted or half-pushed remote object never enters the
cache under its name, a crash leaves at worst a temporary file (DVC's own naming:
``<name>.<tag>.tmp``), and the cache's absence of an object is decided by one
listing per cache folder, not a stat per object.

Push copies the other way with the same pass (``copy_objects`` with ``UP``,
from ``sync/upload.py``): a corrupted cache object never reaches the remote.

Remote layout (DVC 3): ``<remote>/files/md5/xx/rest``; ``.dir`` objects alike.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from artifactctl.dvc.tracked import objects_absent
from artifactctl.workers import run_all

# Reads and writes of 256 KiB: a big object streams, a small one is one read. Writes from
# a 1 MiB buffer cost here 2-4x the system time of 256 KiB ones (the buffer falls out of
# the CPU's cache between the read and the two writes): a 1 GiB fetch took 3.5 s, now 2.3.
CHUNK = 256 << 10
RING = 8  # a big object's buffers: at most 2 MiB read and not yet hashed
BATCH = 64  # objects per worker task
CACHE_MODE = 0o444  # DVC's LocalHashFileDB.CACHE_MODE: cache objects are read-only


@dataclass
class Fetched:
    """What a fetch did: objects copied in, and the ones it could not bring (md5 -> why)."""

    done: list[str] = field(default_factory=list)  # copied in and verified
    failed: dict[str, str] = field(default_factory=dict)
    staged: set[str] = field(default_factory=set)  # verified second copies: <stage>/<md5>


def default_jobs(jobs: int = 0) -> int:
    """I/O threads: small-file work waits on system calls, so more threads than cores."""
    return jobs or min(16, (os.cpu_count() or 1) * 4)


def fetch_local(
    remote: Path,
    cache_dir: Path,
    md5s: Iterable[str],
    *,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    stage: Path | None = None,
    on_staging: Callable[[], None] | None = None,
) -> Fetched:
    """Copy the objects ``md5s`` that the cache lacks from the local remote ``remote``.

    ``stage``: a folder where each object is also written, from the same bytes in the
    same pass (``<stage>/<md5>``, listed in ``staged`` once verified): a checkout by copy
    then renames it into the workspace instead of reading the cache and copying it again.
    ``on_staging`` is called when a staged copy is partly written (a big object's).
    """
    wanted = absent_objects(cache_dir, md5s)
    return copy_objects(
        remote / "files" / "md5",
        cache_dir,
        wanted,
        way=DOWN,
        jobs=jobs,
        on_bytes=on_bytes,
        stage=stage,
        on_staging=on_staging,
    )


@dataclass(frozen=True)
class Way:
    """Which way objects are copied, for the words of a failure: where the bytes were read
    (``source``) and where they were going (``dest``)."""

    source: str
    dest: str


DOWN = Way("on the remote", "into the cache")  # fetch
UP = Way("in the cache", "to the remote")  # push


def copy_objects(
    source: Path,
    dest_root: Path,
    wanted: Sequence[str],
    *,
    way: Way,
    jobs: int = 0,
    on_bytes: Callable[[int], None] | None = None,
    stage: Path | None = None,
    on_staging: Callable[[], None] | None = None,
) -> Fetched:
    """Copy the objects ``wanted`` from the folder ``source`` (``xx/rest``) into
    ``dest_root/files/md5/xx/rest`` (folders made), each verified on its way, in parallel."""
    result = Fetched()
    if not wanted:
        return result
    copier = _ObjectCopier(source, dest_root, on_bytes, way)
    copier.stage, copier.on_staging = stage, on_staging
    tasks = [wanted[k : k + BATCH] for k in range(0, len(wanted), BATCH)]
    lock = threading.Lock()

    def run(task: Sequence[str]) -> None:
        for md5 in task:
            error = copier.copy(md5)
            with lock:
                if error is None:
                    result.done.append(md5)
                    if stage is not None:
                        result.staged.add(md5)
                else:
                    result.failed[md5] = error

    run_all(run, tasks, default_jobs(jobs))
    return result


class _ObjectCopier:
    def __init__(
        self,
        source: Path,
        dest_root: Path,
        on_bytes: Callable[[int], None] | None,
        way: Way = DOWN,
    ) -> None:
        self.source = os.fspath(source)
        self.dest_root = dest_root
        self.on_bytes = on_bytes
        self.way = way
        self.stage: Path | None = None
        self.on_staging: Callable[[], None] | None = None

    def copy(self, md5: str) -> str | None:
        """Copy one object in; None when done, else why it was not."""
        dst, tmp = cache_paths(self.dest_root, md5)
        way = self.way
        try:
            fin = os.open(f"{self.source}{os.sep}{md5[:2]}{os.sep}{md5[2:]}", os.O_RDONLY)
        except FileNotFoundError:
            return f"missing {way.source}"
        except OSError as exc:
            return f"unreadable {way.source}: {exc.strerror or exc}"
        staged = os.path.join(self.stage, md5) if self.stage is not None else None
        try:
            actual = self._copy(fin, tmp, staged)
        except OSError as exc:
            unlink_all(tmp, staged)
            if exc.errno == errno.ENOSPC or way is UP:
                # the command turns a full disk (or a remote it cannot write) into one error
                raise
            return f"could not copy it {way.dest}: {exc.strerror or exc}"
        finally:
            os.close(fin)
        return settle(tmp, dst, md5, actual, staged, where=way.source)

    def _copy(self, fin: int, tmp: str, staged: str | None) -> str:
        digest = _Md5()
        outs = [open_tmp(tmp)]
        try:
            if staged is not None:  # the workspace copy, written from the same bytes
                outs.append(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
            first = True
            while n := os.readv(fin, [buffer := digest.buffer()]):
                digest.update(buffer, n)
                view = buffer[:n]
                for fout in outs:
                    write_all(fout, view)
                if first and staged is not None and self.on_staging and n == CHUNK:
                    self.on_staging()  # a big object's copy is partly written
                first = False
                if self.on_bytes:
                    self.on_bytes(n)
        finally:
            for fout in outs:
                os.close(fout)
            md5 = digest.hexdigest()  # also ends its thread, whatever happened
        return md5


class _Md5:
    """The md5 of a stream of chunks read into the buffers it lends: the first two chunks
    are hashed at once, the rest (a big object's) on a thread of its own, so that hashing
    overlaps the reads and writes (hashlib releases the GIL). The same bytes are hashed
    and written, in order. A big object's chunks go round a few buffers, each lent again
    once hashed (and written: the writes are done before the next buffer is asked for)."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.chunks = 0
        self.free: queue.SimpleQueue[memoryview] | None = None
        self.full: queue.SimpleQueue[tuple[memoryview, int] | None] | None = None
        self.thread: threading.Thread | None = None

    def buffer(self) -> memoryview:
        """Where the next chunk is read to; waits while every buffer is still unhashed."""
        if self.chunks < 2:
            # The first two chunks are hashed before the next read: a small object's
            # second read finds its end, and costs no thread.
            return thread_buffer()
        if self.free is None:
            self.free, self.full = queue.SimpleQueue(), queue.SimpleQueue()
            for _ in range(RING):
                self.free.put(memoryview(bytearray(CHUNK)))
            self.thread = threading.Thread(target=self._hash, name="md5", daemon=True)
            self.thread.start()
        return self.free.get()

    def update(self, buffer: memoryview, n: int) -> None:
        self.chunks += 1
        if self.full is None:
            self.md5.update(buffer[:n])
        else:
            self.full.put((buffer, n))

    def _hash(self) -> None:
        assert self.free is not None and self.full is not None
        while (item := self.full.get()) is not None:
            self.md5.update(item[0][: item[1]])
            self.free.put(item[0])

    def hexdigest(self) -> str:
        if self.full is not None and self.thread is not None:
            self.full.put(None)
            self.thread.join()
            self.full = None
        return self.md5.hexdigest()


_local = threading.local()


def thread_buffer() -> memoryview:
    """One reusable buffer of CHUNK bytes per thread (a fresh one per read costs page
    faults): the fetch's first chunk of each object, the checkout's copies."""
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(CHUNK))
    return view


def absent_objects(cache_dir: Path, md5s: Iterable[str]) -> list[str]:
    """The objects the cache lacks, sorted, with their cache folders made."""
    wanted = sorted(objects_absent(cache_dir, set(md5s)))
    base = cache_dir / "files" / "md5"
    for prefix in sorted({m[:2] for m in wanted}):
        (base / prefix).mkdir(parents=True, exist_ok=True)
    return wanted


def cache_paths(cache_dir: Path, md5: str) -> tuple[str, str]:
    """An object's place in the cache and the temporary name it is written to first."""
    dst = os.path.join(cache_dir, "files", "md5", md5[:2], md5[2:])
    return dst, f"{dst}.{os.getpid()}-{threading.get_ident()}.tmp"


def object_size(objects: str, md5: str) -> int:
    """The size of object ``md5`` in the folder ``objects`` (ending with a separator); 0 if
    absent."""
    with contextlib.suppress(OSError):
        return os.stat(f"{objects}{md5[:2]}{os.sep}{md5[2:]}").st_size
    return 0


def open_tmp(tmp: str) -> int:
    # Created read-only (DVC's protection): the descriptor still writes, no chmod needed.
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, CACHE_MODE)


def settle(
    tmp: str,
    dst: str,
    md5: str,
    actual: str,
    staged: str | None = None,
    where: str = DOWN.source,
) -> str | None:
    """Rename a written object into place if its bytes have the md5 of its name."""
    if actual != md5.removesuffix(".dir"):
        unlink_all(tmp, staged)
        return corrupted(actual, where)
    os.replace(tmp, dst)
    return None


def corrupted(actual: str, where: str) -> str:
    return f"corrupted {where} (its bytes have md5 {actual})"


def write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def unlink_all(*paths: str | None) -> None:
    for path in paths:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
