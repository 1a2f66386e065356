"""Opening a file for a download: inside its folder, a regular file, and verified.

A download is answered from one open descriptor: the file is opened (never
through a symlink that leads out of its folder, never a FIFO or device), hashed
from that descriptor, compared with its record, and only then streamed from the
same descriptor. A rename over the file after the check cannot change what is
sent (the descriptor still holds the checked inode); an edit in place changes its
size, mtime or ctime, which ``unchanged`` checks after hashing and before every
chunk sent, so bytes that were not verified are never sent.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from artifactctl.serve.errors import NotFound, Refused

CHUNK = 1 << 20


@dataclass(frozen=True)
class Expected:
    """What a file was recorded with: its md5 (DVC, the ledger) or sha256 and size (runs)."""

    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Candidate:
    """A file a request may be answered with, and the folders it may resolve into."""

    label: str  # repository-relative, for messages
    path: Path
    folder: Path  # the folder the file belongs to, inside ``root`` with no symlink
    root: Path  # the repository
    expected: Expected
    # Other folders a symlink may lead into: DVC's cache (cache type symlink/hardlink).
    also_inside: tuple[Path, ...] = ()


@dataclass
class VerifiedFile:
    label: str
    fd: int
    size: int
    md5: str
    signature: tuple[int, int, int] = field(repr=False)  # size, mtime_ns, ctime_ns

    def unchanged(self) -> bool:
        """The file has not been written since it was hashed."""
        return _signature(os.fstat(self.fd)) == self.signature

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, min(CHUNK, length), offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Mismatch(Exception):
    """The bytes do not match the record (the caller may rebuild, then refuses)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def open_verified(candidate: Candidate) -> VerifiedFile:
    """The candidate opened and checked: NotFound if it is absent or leaves its folder,
    Mismatch if its bytes differ from the record."""
    fd = open_inside(candidate)
    try:
        return _verify(fd, candidate)
    except BaseException:
        os.close(fd)
        raise


def open_inside(candidate: Candidate) -> int:
    """A read-only descriptor on the candidate, a regular file inside its folder."""
    real = os.path.realpath(candidate.path)
    folder = os.path.realpath(candidate.folder)
    root = os.path.realpath(candidate.root)
    # The folder itself must be where it says (no symlinked folder leading elsewhere).
    placed = os.path.join(root, os.path.relpath(candidate.folder, candidate.root))
    roots = [folder, *(os.path.realpath(p) for p in candidate.also_inside)]
    if folder != os.path.normpath(placed) or not any(_inside(real, r) for r in roots):
        raise NotFound(f"no such file: {candidate.label} (it leads out of its folder)")
    try:
        before = os.lstat(real)
        if not stat.S_ISREG(before.st_mode):  # never open a FIFO or a device
            raise NotFound(f"no such file: {candidate.label} (not a regular file)")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(real, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(
            f"{candidate.label} is not in the workspace",
            hint="fetch it with `artifactctl pull` (or `dvc pull`)",
        ) from None
    except OSError as exc:  # a symlink swapped in after realpath (ELOOP), permissions
        raise NotFound(f"no such file: {candidate.label} ({exc.strerror})") from None
    after = os.fstat(fd)
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise NotFound(f"no such file: {candidate.label} (it was replaced while opened)")
    return fd


def _inside(real: str, root: str) -> bool:
    return real.startswith(root.rstrip(os.sep) + os.sep)


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _verify(fd: int, candidate: Candidate) -> VerifiedFile:
    expected = candidate.expected
    signature = _signature(os.fstat(fd))
    size = signature[0]
    if expected.size is not None and size != expected.size:
        raise Mismatch(f"{candidate.label} is {size} bytes; it was recorded with {expected.size}")
    md5 = hashlib.md5()
    sha = hashlib.sha256() if expected.sha256 else None
    buffer = memoryview(bytearray(CHUNK))
    offset = 0
    while n := os.preadv(fd, [buffer], offset):
        md5.update(buffer[:n])
        if sha is not None:
            sha.update(buffer[:n])
        offset += n
    if offset != size or _signature(os.fstat(fd)) != signature:
        raise Mismatch(f"{candidate.label} changed while it was being verified")
    if expected.md5 is not None and md5.hexdigest() != expected.md5:
        raise Mismatch(f"{candidate.label} does not match the md5 it was recorded with")
    if sha is not None and sha.hexdigest() != expected.sha256:
        raise Mismatch(f"{candidate.label} does not match the sha256 it was recorded with")
    if expected.md5 is None and sha is None:
        raise Mismatch(f"{candidate.label} has no checksum on record; it cannot be verified")
    return VerifiedFile(candidate.label, fd, size, md5.hexdigest(), signature)


def refuse(candidate: Candidate, problem: Mismatch, hint: str) -> Refused:
    return Refused(f"{problem.message}: not served", file=candidate.label, hint=hint)
