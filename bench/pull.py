"""`artifactctl pull` vs `dvc pull`: empty workspace and empty cache, local remote and S3.

Data: 2,000 files of 4 KiB plus one 256 MiB file in one DVC-tracked folder
(quick mode: 500 files and 64 MiB), pushed once to a local-folder remote and to
a SeaweedFS S3 server started here on free ports (tests/s3server.py). Each run
deletes the workspace folder and the cache, then pulls; the two tools alternate
run by run. Rows: one preserved file present locally (as in the reference repo)
for both remotes, and an empty workspace for the local remote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import BIN, Row, bench_env, interleaved

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _sh(*args: str, cwd: Path, env: dict) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


def _make_origin(base: Path, env: dict, files: int, big_mib: int) -> Path:
    repo = base / "origin"
    repo.mkdir()
    _sh("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    _sh(str(BIN / "dvc"), "init", "-q", cwd=repo, env=env)
    (repo / "pyproject.toml").write_text('[tool.artifactctl]\npreserve = ["data/curated.csv"]\n')
    data = repo / "data"
    (data / "small").mkdir(parents=True)
    for i in range(files):
        (data / "small" / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
    with open(data / "big.bin", "wb") as fh:
        for _ in range(big_mib):
            fh.write(os.urandom(1 << 20))
    (data / "curated.csv").write_text("cluster,avg\nremote,1\n")
    _sh(str(BIN / "dvc"), "add", "-q", "data", cwd=repo, env=env)
    _sh("git", "add", "-A", cwd=repo, env=env)
    _sh("git", "commit", "-qm", "data", cwd=repo, env=env)
    return repo


def _clone(origin: Path, dest: Path, env: dict) -> Path:
    _sh("git", "clone", "-q", str(origin), str(dest), cwd=origin.parent, env=env)
    return dest


def run(quick: bool = False) -> list[Row]:
    runs = 1 if quick else 3  # 12 pulls of 256 MiB + 2,000 files: the whole run stays < 5 min
    files, big = (500, 64) if quick else (2000, 256)
    base = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    env = bench_env(
        DVC_SITE_CACHE_DIR=str(base / "site-cache"),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    sys.path.insert(0, str(TESTS))
    from s3server import ACCESS_KEY, SECRET_KEY, S3Server

    server = S3Server(base / "s3")
    rows: list[Row] = []
    try:
        origin = _make_origin(base, env, files, big)
        dvc = str(BIN / "dvc")
        _sh(dvc, "remote", "add", "-d", "local", str(base / "remote"), cwd=origin, env=env)
        _sh(dvc, "push", "-q", "-r", "local", cwd=origin, env=env)
        server.start()
        _sh(dvc, "remote", "add", "s3", "s3://artifacts/bench", cwd=origin, env=env)
        _sh(dvc, "remote", "modify", "s3", "endpointurl", server.endpoint, cwd=origin, env=env)
        for key, value in (("access_key_id", ACCESS_KEY), ("secret_access_key", SECRET_KEY)):
            _sh(dvc, "remote", "modify", "--local", "s3", key, value, cwd=origin, env=env)
        _sh(dvc, "push", "-q", "-r", "s3", cwd=origin, env=env)
        _sh("git", "add", "-A", cwd=origin, env=env)
        _sh("git", "commit", "-qm", "remotes", cwd=origin, env=env)
        clone = _clone(origin, base / "clone", env)
        shutil.copy2(origin / ".dvc" / "config.local", clone / ".dvc" / "config.local")

        curated = True

        def setup(_: str) -> None:
            shutil.rmtree(clone / "data", ignore_errors=True)
            shutil.rmtree(clone / ".dvc" / "cache", ignore_errors=True)
            shutil.rmtree(clone / ".dvc" / "tmp", ignore_errors=True)
            shutil.rmtree(base / "site-cache", ignore_errors=True)
            if curated:
                (clone / "data").mkdir()
                (clone / "data" / "curated.csv").write_text("cluster,avg\nlocal,2\n")

        size = f"{files} x 4 KiB + {big} MiB"
        for remote, curated in (("local", True), ("s3", True), ("local", False)):
            cmds = {
                "artifactctl": [str(BIN / "artifactctl"), "pull", "-r", remote],
                # `--force`: the curated file differs, so plain dvc pull would stop (exit 1).
                "dvc": [dvc, "pull", "-q", "--force", "-r", remote],
            }
            got = interleaved(cmds, runs, cwd=clone, env=env, setup=setup)
            where = "curated file present" if curated else "empty workspace"
            rows.append(
                Row(
                    f"pull ({remote} remote, {where})",
                    "artifactctl pull",
                    got["artifactctl"].seconds,
                    "dvc pull --force",
                    got["dvc"].seconds,
                    got["artifactctl"].max_rss_mib,
                    note=f"{size}, empty cache; {runs} runs; target <= 1.1x",
                )
            )
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return rows
