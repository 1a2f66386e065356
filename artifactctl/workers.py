"""The one way work is spread over threads.

Plain threads: hashlib, file reads and writes and the kernel's copies release the GIL, so
hashing, fetching and checking out many files use every core without processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def run_all(work: Callable[[T], object], tasks: Sequence[T], workers: int) -> None:
    """``work`` on every task: inline when one worker is enough, else on ``workers`` threads.

    Every result is consumed, so an exception raised by a worker is raised here.
    """
    workers = min(workers, len(tasks))
    if workers <= 1:
        for task in tasks:
            work(task)
        return
    # Imported here, where threads are used: it imports logging, which one file never needs.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(work, tasks):
            pass
