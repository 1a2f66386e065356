"""`artifactctl serve` under a bounded load on 127.0.0.1: concurrent champion lookups and downloads.

The reference pipeline is reproduced in a temporary repository and v2-006 promoted;
then rounds of 200 concurrent ``GET /api/champion`` and of 20 concurrent downloads of
the champion's model.joblib go to one server. Every answer is checked (the champion's
ID and the ledger's md5s; each download's bytes against the ledger's md5). Requests
per second and latency percentiles are reported, never asserted. The client is one
asyncio loop on the same 2 cores as the server, so the figures are a floor.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import BIN, Row, bench_env

PROJECT = Path(__file__).resolve().parent.parent
PIPELINE_FILES = ("dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore", ".dvcignore")
URL = re.compile(r"serving .* at http://([\d.]+):(\d+)/ ")


def _sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, env=bench_env(), check=True, capture_output=True)


def build(root: Path) -> Path:
    """The reference pipeline reproduced, v2-006 promoted to champion."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    for name in PIPELINE_FILES:
        shutil.copy2(PROJECT / name, repo / name)
    shutil.copytree(
        PROJECT / "artifactctl", repo / "artifactctl", ignore=shutil.ignore_patterns("__pycache__")
    )
    _sh("git", "init", "-q", "-b", "main", cwd=repo)
    _sh(str(BIN / "dvc"), "init", "-q", cwd=repo)
    (repo / ".dvc" / "config.local").write_text(
        f"['remote \"local\"']\n    url = {root / 'remote'}\n"
    )
    shutil.copy2(PROJECT / ".dvc" / "config", repo / ".dvc" / "config")
    _sh("git", "add", "-A", cwd=repo)
    _sh(
        "git",
        "-c",
        "user.name=bench",
        "-c",
        "user.email=b@x",
        "commit",
        "-qm",
        "pipeline",
        cwd=repo,
    )
    _sh(str(BIN / "dvc"), "repro", "-q", cwd=repo)
    _sh(str(BIN / "artifactctl"), "promote", "v2-006", cwd=repo)
    return repo


async def _get(host: str, port: int, path: str) -> tuple[float, int, bytes]:
    """One request on its own connection: (seconds, status, body)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return time.perf_counter() - started, status, body


async def _round(host: str, port: int, path: str, n: int) -> list[tuple[float, int, bytes]]:
    tasks = [_get(host, port, path) for _ in range(n)]
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)


def _load(host: str, port: int, path: str, n: int, rounds: int, check) -> dict:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        for seconds, status, body in asyncio.run(_round(host, port, path, n)):
            if status != 200 or not check(body):
                raise RuntimeError(f"GET {path}: a wrong answer ({status}, {body[:200]!r})")
            latencies.append(seconds)
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def _start(repo: Path, log: Path) -> tuple[subprocess.Popen, str, int]:
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [str(BIN / "artifactctl"), "serve", "--port", "0"],
            cwd=repo,
            env=bench_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    for _ in range(600):
        match = URL.search(log.read_text(errors="replace"))
        if match:
            return proc, match.group(1), int(match.group(2))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"artifactctl serve did not start:\n{log.read_text()}")


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]) / 1024


def run(quick: bool = False) -> list[Row]:
    rounds = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        repo = build(Path(tmp))
        ledger = repo / "artifacts/models/production/ledger.jsonl"
        files = json.loads(ledger.read_text().splitlines()[-1])["files"]
        model_md5 = files["model.joblib"]
        size = (repo / "artifacts/models/candidates/v2-006/model.joblib").stat().st_size
        proc, host, port = _start(repo, Path(tmp) / "server.log")
        try:

            def champion_ok(body: bytes) -> bool:
                doc = json.loads(body)
                return (
                    doc["id"] == "v2-006" and {f["name"]: f["md5"] for f in doc["files"]} == files
                )

            def model_ok(body: bytes) -> bool:
                return hashlib.md5(body).hexdigest() == model_md5

            _load(host, port, "/api/health", 10, 1, lambda b: True)  # warm up
            lookups = _load(host, port, "/api/champion", 200, rounds, champion_ok)
            downloads = _load(host, port, "/api/champion/files/model.joblib", 20, rounds, model_ok)
            rss = _peak_rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rows = []
    for label, got, what in (
        ("GET /api/champion, 200 concurrent", lookups, "champion doc"),
        (f"model download ({size:,} B), 20 concurrent", downloads, "verified download"),
    ):
        rows.append(
            Row(
                "serve",
                label,
                got["p50"],
                ours_rss_mib=rss,
                note=(
                    f"{got['rps']:.0f} req/s, p99 {got['p99'] * 1000:.0f} ms; "
                    f"all {got['requests']} {what}s correct"
                ),
                extra=got,
            )
        )
        print(f"serve: {label}: {rows[-1].note}, median {got['p50'] * 1000:.0f} ms")
    return rows
