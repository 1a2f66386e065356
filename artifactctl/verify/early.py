"""A head start for ``verify --deep`` on a big tracked folder (the hashing, not the check).

``artifactctl verify --deep`` spends its first 40 ms importing and planning on one
core. When the same command (same folder, same options) planned one tracked folder
last time, ``start`` forks a helper at once that takes chunks of that folder's files
from a queue and hashes them, as the helpers of ``hashlane._small_lane`` do. Once the
command has planned for itself, ``hashlane`` adopts the helper only if the plan is the
same (``adopt``); its results are used only if it read the very same list of files
from the very same folder (``confirm``). Otherwise it is stopped (``cancel``) and
nothing it did is used.

Imports nothing heavy: it runs before the rest of artifactctl is imported.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal

PLAN = ".dvc/tmp/artifactctl/plan.marshal"

# (key, top, memo, n, count) and (queue, (pid, result pipe)) of the running helper
_running: list = []


def plan_key(cwd: str, paths: list[str], cache: bool, tests: bool, jobs: int) -> tuple:
    return (cwd, tuple(paths), cache, tests, jobs)


def _root(cwd: str) -> str | None:
    here = cwd
    while True:
        if os.path.isdir(os.path.join(here, ".dvc")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def start(paths: list[str], cache: bool, tests: bool, jobs: int) -> None:
    """Fork the helper if the last plan of this very command is known (never raises)."""
    try:
        _start(paths, cache, tests, jobs)
    except Exception:  # only a head start: the command does all the work without it
        cancel()


def _start(paths: list[str], cache: bool, tests: bool, jobs: int) -> None:
    if not hasattr(os, "fork"):
        return
    cwd = os.getcwd()
    root = _root(cwd)
    if root is None:
        return
    try:
        with open(os.path.join(root, PLAN), "rb") as fh:
            plan = marshal.loads(fh.read())
    except (OSError, EOFError, ValueError, TypeError):
        return
    key = plan_key(cwd, paths, cache, tests, jobs)
    if not (isinstance(plan, tuple) and len(plan) == 5 and plan[0] == key):
        return
    _, top, memo, n, count = plan
    if not (isinstance(count, int) and 0 < count < 256 and isinstance(n, int)):
        return
    queue, feed = os.pipe()
    os.write(feed, bytes(range(count)))
    os.close(feed)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper
        code = 1
        try:
            os.close(rfd)
            code = _help(top, memo, n, count, queue, wfd)
        finally:
            os._exit(code)
    os.close(wfd)
    _running.append(((key, top, memo, n, count), (queue, (pid, rfd))))


def _help(top: str, memo: str, n: int, count: int, queue: int, out: int) -> int:
    with open(memo, "rb") as fh:
        st = os.fstat(fh.fileno())
        names = marshal.loads(fh.read())[1]
    if not isinstance(names, list) or len(names) != n:
        return 1
    dir_fd = os.open(top, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    from artifactctl.hashing.lane import _take_chunks

    bounds = [(n * k // count, n * (k + 1) // count) for k in range(count)]
    got: dict = _take_chunks(names, bounds, queue, "md5", None, dir_fd, True)
    dst = os.fstat(dir_fd)
    got[-1] = (st.st_size, st.st_mtime_ns, st.st_ino, dst.st_dev, dst.st_ino)
    view = memoryview(marshal.dumps(got))
    while view:
        view = view[os.write(out, view) :]
    return 0


def adopt(n: int, count: int, dir_fd: int) -> tuple[int, tuple[int, int], str] | None:
    """(queue, helper, memo) if the helper hashes the same n files in count chunks."""
    if not _running:
        return None
    (_, _, memo, pn, pcount), (queue, helper) = _running[0]
    if pn != n or pcount != count:
        cancel()
        return None
    del _running[:]
    return queue, helper, memo


def confirm(got: dict, memo: str, dir_fd: int) -> bool:
    """Whether the helper read the very file of names the command read (same inode, size
    and mtime: it is only ever replaced, never rewritten), below the same folder."""
    from artifactctl.dvc.tracked import RECALLED

    report = got.pop(-1, None)
    seen = RECALLED.get(memo)
    try:
        dst = os.fstat(dir_fd)
    except OSError:
        return False
    return seen is not None and report == (*seen, dst.st_dev, dst.st_ino)


def cancel() -> None:
    """Stop the helper, if one is running and was not adopted."""
    while _running:
        _, (queue, (pid, rfd)) = _running.pop()
        for fd in (queue, rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass


def remember(root: str, key: tuple, top: str, memo: str, n: int, count: int) -> None:
    """Record this command's plan for the next run (written only when it changes)."""
    path = os.path.join(root, PLAN)
    plan = (key, top, memo, n, count)
    try:
        with open(path, "rb") as fh:
            if marshal.loads(fh.read()) == plan:
                return
    except (OSError, EOFError, ValueError, TypeError):
        pass
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(marshal.dumps(plan))
        os.replace(tmp, path)
    except OSError:
        pass
