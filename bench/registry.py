"""Promotion gates: the bootstrap in-process, and the whole gates in a fresh process.

- The paired bootstrap vs the per-resample loop people usually write, on the same
  seeded draws (rows as units, up to ``bootstrap.MAX_UNITS`` rows: the p-value is
  checked equal).
- The gates as ``promote`` runs them, in a child process (wall time and peak RSS):
  read both predictions.csv files (the baseline's rows in another order, so the
  rows are really paired by row_id), pair them, run the bootstrap (rmse, 2,000
  resamples). Against version 1 of the same steps in a child process too
  (csv.DictReader into lists, a dict per row to pair them, rows as units at every
  size), whose p-value and interval are those of method version 1.

Usage: python -m bench [--quick] registry   (--quick: 100,000 rows; else 100,000 and 1,000,000)
"""

from __future__ import annotations

import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, median_of, run_once

RESAMPLES = 2000
SEED = 1


def _loop_bootstrap(actual, cand, base, resamples: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np

    from artifactctl.registry.bootstrap import CELLS, CHUNK

    rng = np.random.default_rng(seed)
    n = len(actual)
    out = np.empty(resamples)
    done = 0
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


def _bootstrap_rows(quick: bool) -> list[Row]:
    import numpy as np

    from artifactctl.registry.gates import paired_bootstrap

    rows = []
    runs = 3 if quick else 5
    for n in (1_000, 10_000) if quick else (1_000, 10_000, 16_384):
        rng = np.random.default_rng(0)
        actual = rng.normal(0, 2, n)
        cand = actual + rng.normal(0, 1.0, n)
        base = actual + rng.normal(0, 1.05, n)
        kw = {"metric": "rmse", "direction": "lower", "resamples": RESAMPLES, "seed": SEED}
        ours = paired_bootstrap(actual, cand, base, **kw)
        assert abs(ours[2] - _loop_bootstrap(actual, cand, base, RESAMPLES, SEED)) < 1e-12
        args = (actual, cand, base)
        fast = _median_seconds(lambda a=args, k=kw: paired_bootstrap(*a, **k), runs)
        slow = _median_seconds(lambda a=args: _loop_bootstrap(*a, RESAMPLES, SEED), runs)
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


# ------------------------------------------------------------ the gates in a process


def write_predictions(folder: Path, n: int) -> tuple[Path, Path]:
    """Two predictions.csv files over the same n rows; the baseline's in another order."""
    import numpy as np

    rng = np.random.default_rng(0)
    actual = rng.normal(0, 2, n)
    rows = np.arange(n)
    order = rng.permutation(n)
    paths = []
    for name, noise, pick in (("candidate", 1.0, rows), ("baseline", 1.05, order)):
        predicted = actual + rng.normal(0, noise, n)
        path = folder / f"{name}.csv"
        table = np.column_stack([rows[pick], actual[pick], predicted[pick]])
        header = "row_id,actual,predicted"
        np.savetxt(
            path, table, fmt=("%d", "%.17g", "%.17g"), delimiter=",", header=header, comments=""
        )
        paths.append(path)
    return paths[0], paths[1]


def gates_now(candidate: str, baseline: str) -> str:
    """What a child process runs: the gates as promote computes them (method version 2)."""
    from artifactctl.config import Promotion
    from artifactctl.registry.gates import evaluate_gates, read_predictions

    result = evaluate_gates(
        read_predictions(Path(candidate)),
        read_predictions(Path(baseline)),
        Promotion(resamples=RESAMPLES, seed=SEED),
    )
    return f"{result.p_value} {result.ci_low} {result.ci_high}"


def gates_version_1(candidate: str, baseline: str) -> str:
    """The same steps as artifactctl did them before method version 2 (for comparison)."""
    import numpy as np

    def read(path: str) -> tuple[list[str], object, object]:
        ids, actual, predicted = [], [], []
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                ids.append(row["row_id"])
                actual.append(float(row["actual"]))
                predicted.append(float(row["predicted"]))
        return ids, np.asarray(actual), np.asarray(predicted)

    c_ids, actual, cand = read(candidate)
    b_ids, _, base = read(baseline)
    position = {rid: i for i, rid in enumerate(b_ids)}
    base = base[np.asarray([position[rid] for rid in c_ids], dtype=np.int64)]
    n = len(actual)
    cols = [np.ascontiguousarray((actual - cand) ** 2), np.ascontiguousarray((actual - base) ** 2)]
    rng = np.random.default_rng(SEED)
    chunk = max(1, min(256, (1 << 21) // n))
    improvements = np.empty(RESAMPLES)
    for start in range(0, RESAMPLES, chunk):
        size = min(chunk, RESAMPLES - start)
        idx = rng.integers(0, n, size=(size, n), dtype=np.int32)
        sums = np.column_stack([np.take(col, idx).sum(axis=1) for col in cols])
        improvements[start : start + size] = np.sqrt(sums[:, 1] / n) - np.sqrt(sums[:, 0] / n)
    p_value = (int(np.sum(improvements <= 0)) + 1) / (RESAMPLES + 1)
    low, high = np.quantile(improvements, [0.025, 0.975])
    return f"{p_value} {low} {high}"


def child_main(func: str, candidate: str, baseline: str, answer: str) -> None:
    """In the child: run ``func``, write its p-value, interval and peak RSS to ``answer``.

    The peak is the process's own VmHWM: the ru_maxrss a parent gets from wait4 also
    counts the parent's own memory at the fork (Linux carries it over the exec).
    """
    result = {"gates_now": gates_now, "gates_version_1": gates_version_1}[func](candidate, baseline)
    status = Path("/proc/self/status").read_text()
    peak_kib = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
    )
    Path(answer).write_text(f"{result} {peak_kib / 1024}")


def _measure_child(func: str, candidate: Path, baseline: Path, runs: int) -> dict[str, float]:
    """Medians of wall time, CPU time and peak RSS, and the p-value and interval."""
    answer = candidate.parent / f"{func}.txt"
    args = ", ".join(repr(str(x)) for x in (func, candidate, baseline, answer))
    cmd = [sys.executable, "-c", f"from bench.registry import child_main; child_main({args})"]
    cwd = Path(__file__).resolve().parent.parent
    samples, peaks = [], []
    for _ in range(runs):
        answer.unlink(missing_ok=True)
        samples.append(run_once(cmd, cwd))
        if not answer.is_file():  # a traceback exits 1, which run_once accepts
            raise RuntimeError(f"no result from {cmd}: run it to see why")
        p_value, low, high, peak = (float(x) for x in answer.read_text().split())
        peaks.append(peak)
    med = median_of(samples)
    return {
        "seconds": med.seconds,
        "cpu": med.cpu_seconds,
        "rss": statistics.median(peaks),
        "p": p_value,
        "low": low,
        "high": high,
    }


def _process_rows(quick: bool) -> list[Row]:
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="artifactctl-bench-gates-"))
    try:
        for n in (100_000,) if quick else (100_000, 1_000_000):
            candidate, baseline = write_predictions(folder, n)
            runs = 3 if quick else 5
            old_runs = 1 if n >= 1_000_000 else runs  # version 1 takes a minute at 1M rows
            new = _measure_child("gates_now", candidate, baseline, runs)
            old = _measure_child("gates_version_1", candidate, baseline, old_runs)
            width = (new["high"] - new["low"]) / (old["high"] - old["low"])
            rows.append(
                Row(
                    "gates",
                    f"promote's gates, {n:,} rows x 2,000 (read, pair, bootstrap)",
                    new["seconds"],
                    "version 1 (dict pairing, rows as units)",
                    old["seconds"],
                    ours_rss_mib=new["rss"],
                    note=(
                        f"target <= 3 s, <= 150 MiB; cpu {new['cpu']:.1f} s; "
                        f"v1 {old['rss']:.0f} MiB; p {new['p']:.2g} vs {old['p']:.2g}, "
                        f"CI width x{width:.3f}; {runs}/{old_runs} runs"
                    ),
                    extra={"ours": new, "version_1": old},
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def run(quick: bool = False) -> list[Row]:
    return _bootstrap_rows(quick) + _process_rows(quick)
