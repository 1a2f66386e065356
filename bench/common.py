"""Measuring commands side by side: medians of wall time and peak memory.

Benchmarks are not tests: they print figures and never fail on timing. Every
figure is a median of several runs, with the comparison (dvc, coreutils)
measured in the same run on the same data, and reported as a ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class Sample:
    seconds: float
    max_rss_mib: float
    cpu_seconds: float = 0.0  # user + system of the process and its waited-for children


@dataclass
class Row:
    """One line of the report: ours vs a baseline, as medians."""

    benchmark: str
    ours: str
    ours_seconds: float
    baseline: str = ""
    baseline_seconds: float | None = None
    ours_rss_mib: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline_seconds:
            return self.ours_seconds / self.baseline_seconds
        return None


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def run_once(
    cmd: Sequence[str] | str,
    cwd: Path | None = None,
    env: dict | None = None,
    shell: bool = False,
    check: bool = True,
) -> Sample:
    """Wall time and peak RSS of one run of ``cmd`` (os.wait4 gives the child's rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env or bench_env(),
        shell=shell,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if check and code not in (0, 1):
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd} exited {code}: {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return Sample(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median_of(samples: Sequence[Sample]) -> Sample:
    return Sample(
        statistics.median(s.seconds for s in samples),
        statistics.median(s.max_rss_mib for s in samples),
        statistics.median(s.cpu_seconds for s in samples),
    )


def measure(
    cmd: Sequence[str] | str,
    runs: int,
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    shell: bool = False,
    setup: Callable[[], None] | None = None,
    warmup: int = 0,
) -> Sample:
    """Median over ``runs`` runs; ``setup`` runs before each (untimed)."""
    for _ in range(warmup):
        if setup:
            setup()
        run_once(cmd, cwd, env, shell)
    samples = []
    for _ in range(runs):
        if setup:
            setup()
        samples.append(run_once(cmd, cwd, env, shell))
    return median_of(samples)


def interleaved(
    cmds: dict[str, Sequence[str] | str],
    runs: int,
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    shell: bool = False,
    setup: Callable[[str], None] | None = None,
) -> dict[str, Sample]:
    """Alternate the commands run by run so that machine noise hits them alike."""
    samples: dict[str, list[Sample]] = {k: [] for k in cmds}
    for _ in range(runs):
        for key, cmd in cmds.items():
            if setup:
                setup(key)
            samples[key].append(run_once(cmd, cwd, env, shell))
    return {k: median_of(v) for k, v in samples.items()}
