"""Promotion gates: the vectorised paired bootstrap vs a per-resample loop, in-process.

Both compute the same p-value and interval (checked) from the same seeded draws; the
baseline is the loop people usually write (one numpy metric call per resample).
"""

from __future__ import annotations

import statistics
import time

from bench.common import Row


def _loop_bootstrap(actual, cand, base, resamples: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(actual)
    out = np.empty(resamples)
    done = 0
    from artifactctl.registry.gates import CELLS, CHUNK

    chunk = max(1, min(CHUNK, CELLS // n))
    while done < resamples:  # same draws as gates.paired_bootstrap
        idx = rng.integers(0, n, size=(min(chunk, resamples - done), n), dtype=np.int32)
        for row in idx:
            a = actual[row]
            c = np.sqrt(np.mean((a - cand[row]) ** 2))
            b = np.sqrt(np.mean((a - base[row]) ** 2))
            out[done] = b - c
            done += 1
    return (np.sum(out <= 0) + 1) / (resamples + 1)


def _median_seconds(func, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> list[Row]:
    import numpy as np

    from artifactctl.registry.gates import paired_bootstrap

    rows = []
    runs = 3 if quick else 5
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 100_000):
        rng = np.random.default_rng(0)
        actual = rng.normal(0, 2, n)
        cand = actual + rng.normal(0, 1.0, n)
        base = actual + rng.normal(0, 1.05, n)
        kw = {"metric": "rmse", "direction": "lower", "resamples": 2000, "seed": 1}
        ours = paired_bootstrap(actual, cand, base, **kw)
        assert abs(ours[2] - _loop_bootstrap(actual, cand, base, 2000, 1)) < 1e-12
        args = (actual, cand, base)
        fast = _median_seconds(lambda a=args, k=kw: paired_bootstrap(*a, **k), runs)
        slow = _median_seconds(lambda a=args: _loop_bootstrap(*a, 2000, 1), runs)
        rows.append(
            Row(
                "gates",
                f"paired bootstrap, {n:,} rows x 2,000",
                fast,
                "per-resample loop",
                slow,
                note=f"same p-value; {runs} runs",
            )
        )
    return rows
