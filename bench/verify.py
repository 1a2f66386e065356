"""`artifactctl verify` vs md5sum and `dvc status` / `dvc data status`.

A temporary git + DVC repository holds 1 GiB in one file and 20,000 files of
4 KiB in a tracked directory (both `dvc add`-ed). Measured side by side,
interleaved, medians (the files sit in the page cache: this is CPU-bound
hashing, as for any recently written artifact):

- `verify --deep` of the big file and of the small files vs `md5sum` (one
  process) and `xargs -P2 md5sum`, as MB/s and as a ratio, plus the CPU
  seconds each used (a figure that other load on the machine does not skew);
- `verify` with nothing changed (the hash state vouches for every file) vs
  `dvc status` and `dvc data status` on the same repository;
- `status` with nothing changed vs `verify` with nothing changed, on the same
  repository and (not --quick) on one of 200,000 tiny tracked files;
- peak RSS of each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import BIN, Row, bench_env, interleaved

BIG = "artifacts/data/big.bin"
STATUS_FILES = 200_000  # the full run's status row: a repository of this many tiny files
SMALL = "artifacts/data/small"


def build_repo(base: Path, big_mib: int, small_files: int, small_bytes: int = 4096) -> Path:
    repo = base / "repo"
    repo.mkdir()
    env = bench_env()

    def sh(*cmd: str) -> None:
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)

    sh("git", "init", "-q", "-b", "main")
    sh("git", "config", "user.email", "bench@example.invalid")
    sh("git", "config", "user.name", "bench")
    sh(str(BIN / "dvc"), "init", "-q")
    sh(str(BIN / "dvc"), "config", "core.analytics", "false")
    (repo / "artifacts" / "data").mkdir(parents=True)
    # Incompressible content; a 4 MiB random block repeated with a counter keeps it fast.
    block = bytearray(os.urandom(4 << 20))
    with open(repo / BIG, "wb") as fh:
        for i in range(big_mib // 4):
            block[:8] = i.to_bytes(8, "little")
            fh.write(block)
    small = repo / SMALL
    for i in range(small_files):
        folder = small / f"{i // 200:03d}"
        if i % 200 == 0:
            folder.mkdir(parents=True)
        (folder / f"part-{i:06d}.bin").write_bytes(os.urandom(small_bytes))
    sh(str(BIN / "dvc"), "add", "-q", BIG, SMALL)
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "data")
    return repo


def mbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:.0f} MB/s"


def run(quick: bool = False) -> list[Row]:
    big_mib = 256 if quick else 1024
    small_files = 5000 if quick else 20000
    runs = 3 if quick else 5
    big_runs = 3  # ~2 s each: keeps the whole benchmark under 5 minutes on a busy machine
    base = Path(tempfile.mkdtemp(prefix="artifactctl-bench-verify-"))
    try:
        started = time.perf_counter()
        repo = build_repo(base, big_mib, small_files)
        setup = time.perf_counter() - started
        ac = str(BIN / "artifactctl")
        # As installed: byte-compiled (with PYTHONDONTWRITEBYTECODE set, an editable
        # install would otherwise compile its modules again on every run, ~0.07 s).
        package = Path(__file__).resolve().parent.parent / "artifactctl"
        subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", str(package)], check=True)
        big_bytes = big_mib << 20
        small_bytes = small_files * 4096
        small_list = f"find {SMALL} -type f -print0"
        rows: list[Row] = []

        got = interleaved(
            {
                "verify": [ac, "verify", "--deep", BIG],
                "md5sum": ["md5sum", BIG],
                "xargs -P2": ["sh", "-c", f"echo {BIG} | xargs -P2 md5sum > /dev/null"],
            },
            big_runs,
            cwd=repo,
        )
        rows += _rows(f"verify --deep, 1 file of {big_mib} MiB", got, big_bytes, big_runs)

        got = interleaved(
            {
                "verify": [ac, "verify", "--deep", SMALL],
                "md5sum": ["sh", "-c", f"{small_list} | xargs -0 md5sum > /dev/null"],
                "xargs -P2": [
                    "sh",
                    "-c",
                    f"{small_list} | xargs -0 -P2 -n 1000 md5sum > /dev/null",
                ],
            },
            runs,
            cwd=repo,
        )
        rows += _rows(f"verify --deep, {small_files} files of 4 KiB", got, small_bytes, runs)

        # Unchanged files: prime both state caches, then time the re-checks.
        subprocess.run([ac, "verify"], cwd=repo, env=bench_env(), capture_output=True)
        subprocess.run([str(BIN / "dvc"), "status"], cwd=repo, env=bench_env(), capture_output=True)
        got = interleaved(
            {
                "verify": [ac, "verify"],
                "dvc status": [str(BIN / "dvc"), "status"],
                "dvc data status": [str(BIN / "dvc"), "data", "status"],
            },
            runs,
            cwd=repo,
        )
        n = small_files + 1
        for baseline in ("dvc data status", "dvc status"):
            rows.append(
                Row(
                    f"re-check {n} unchanged files",
                    "verify (state)",
                    got["verify"].seconds,
                    baseline,
                    got[baseline].seconds,
                    got["verify"].max_rss_mib,
                    note=f"CPU {got['verify'].cpu_seconds:.2f}"
                    f" vs {got[baseline].cpu_seconds:.2f} s;"
                    f" {baseline} {got[baseline].max_rss_mib:.0f} MiB; {runs} runs",
                )
            )
        rows[-1].note += f"; setup {setup:.0f} s; load average {os.getloadavg()[0]:.1f}"
        rows.append(_status_row(repo, small_files + 1, runs))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if not quick:
        rows.append(_status_row_at(STATUS_FILES, runs))
    return rows


def _status_row_at(files: int, runs: int) -> Row:
    """status vs verify on a repository of ``files`` tiny tracked files (its own)."""
    base = Path(tempfile.mkdtemp(prefix="artifactctl-bench-status-"))
    try:
        started = time.perf_counter()
        repo = build_repo(base, 0, files, small_bytes=64)
        row = _status_row(repo, files + 1, runs)
        row.note += f"; setup {time.perf_counter() - started:.0f} s"
        return row
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _status_row(repo: Path, files: int, runs: int) -> Row:
    """Warm `status` vs warm `verify` (the hash state vouches for every file), interleaved."""
    ac = str(BIN / "artifactctl")
    for cmd in ("verify", "status"):  # prime the hash state
        subprocess.run([ac, cmd], cwd=repo, env=bench_env(), capture_output=True)
    got = interleaved({"status": [ac, "status"], "verify": [ac, "verify"]}, runs, cwd=repo)
    return Row(
        f"re-check {files} unchanged files",
        "status (state)",
        got["status"].seconds,
        "verify (state)",
        got["verify"].seconds,
        got["status"].max_rss_mib,
        note=f"target <= 1.5x; CPU {got['status'].cpu_seconds:.2f}"
        f" vs {got['verify'].cpu_seconds:.2f} s; verify {got['verify'].max_rss_mib:.0f} MiB;"
        f" {runs} runs",
    )


def _rows(name: str, got: dict, nbytes: int, runs: int) -> list[Row]:
    ours = got["verify"]
    return [
        Row(
            name,
            "verify --deep",
            ours.seconds,
            baseline,
            got[baseline].seconds,
            ours.max_rss_mib,
            note=f"{mbps(nbytes, ours.seconds)} vs {mbps(nbytes, got[baseline].seconds)};"
            f" CPU {ours.cpu_seconds:.2f} vs {got[baseline].cpu_seconds:.2f} s;"
            f" {baseline} {got[baseline].max_rss_mib:.0f} MiB; {runs} runs",
        )
        for baseline in ("md5sum", "xargs -P2")
    ]
