"""Progress of a transfer: how pull and push report bytes moved without hooking into DVC.

A command hands the library a ``ProgressFactory``; the library opens one bar per
phase with it and advances it by bytes. The CLI's factory draws rich bars on stderr;
the library's default draws nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

Advance = Callable[[float], None]
# progress(description, total_bytes) -> context manager yielding advance(n)
ProgressFactory = Callable[[str, float | None], contextlib.AbstractContextManager[Advance]]


@contextlib.contextmanager
def no_progress(description: str, total: float | None) -> Iterator[Advance]:
    yield lambda n: None


@contextlib.contextmanager
def disk_io(counter: str, advance: Advance) -> Iterator[None]:
    """Report this process's bytes read or written (``rchar``/``wchar``) while in the block.

    Downloads land in the cache and uploads read it, so this follows a transfer
    without hooking into DVC's internals (Linux; elsewhere no progress).
    """
    io = Path("/proc/self/io")

    def current() -> int | None:
        with contextlib.suppress(OSError, ValueError, StopIteration):
            lines = io.read_text().splitlines()
            return int(next(x for x in lines if x.startswith(counter + ":")).split()[1])
        return None

    start = current()
    if start is None:
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        last = start
        while not stop.wait(0.25):
            now = current()
            if now is not None and now > last:
                advance(now - last)
                last = now

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
