"""`artifactctl pull` vs `dvc pull` (and two `cp -r` passes): many small files, one big file.

Each scenario is its own DVC-tracked folder ``data/`` pushed once, pulled into a
clone whose workspace folder, cache and DVC state are deleted before every run; the
commands alternate run by run. Rows (issue 17's targets):

- 10,000 files of 4 KiB, local-folder remote: vs `dvc pull`, and vs two `cp -r`
  passes of the same files (a pull copies twice: remote -> cache -> workspace);
- 50,000 files of 4 KiB, local remote, the same two rows (full run only, one run:
  it takes minutes), with artifactctl's peak RSS;
- 10,000 files of 4 KiB from a SeaweedFS S3 server started here (tests/s3server.py),
  two runs;
- one 1 GiB file, local remote.

Quick mode: one run each, 2,000 files from S3, 256 MiB for the big file, no 50,000 row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import BIN, Row, bench_env, interleaved

TESTS = Path(__file__).resolve().parent.parent / "tests"
DVC = str(BIN / "dvc")


def sh(*args: str, cwd: Path, env: dict) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


def make_origin(repo: Path, env: dict, files: int, big_mib: int) -> Path:
    repo.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    sh(DVC, "init", "-q", cwd=repo, env=env)
    (repo / "pyproject.toml").write_text("[tool.artifactctl]\n")
    data = repo / "data"
    data.mkdir()
    for i in range(files):
        sub = data / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir()
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
    if big_mib:
        with open(data / "big.bin", "wb") as fh:
            for _ in range(big_mib):
                fh.write(os.urandom(1 << 20))
    sh(DVC, "add", "-q", "data", cwd=repo, env=env)
    return repo


def add_remote(origin: Path, remote: str, url: str, env: dict, s3: object | None) -> None:
    """Make ``url`` the default remote ``remote`` (an S3 one: the server's endpoint, keys)."""
    sh(DVC, "remote", "add", "-f", "-d", remote, url, cwd=origin, env=env)
    if s3 is not None:
        from s3server import ACCESS_KEY, SECRET_KEY

        sh(DVC, "remote", "modify", remote, "endpointurl", s3.endpoint, cwd=origin, env=env)  # type: ignore[attr-defined]
        for key, value in (("access_key_id", ACCESS_KEY), ("secret_access_key", SECRET_KEY)):
            sh(DVC, "remote", "modify", "--local", remote, key, value, cwd=origin, env=env)


def _publish(origin: Path, remote: str, url: str, env: dict, s3: object | None) -> None:
    add_remote(origin, remote, url, env, s3)
    sh(DVC, "push", "-q", "-r", remote, cwd=origin, env=env)
    sh("git", "add", "-A", cwd=origin, env=env)
    sh("git", "commit", "-qm", "data", cwd=origin, env=env)


def _clone(origin: Path, env: dict) -> Path:
    dest = origin.with_name(origin.name + "-clone")
    sh("git", "clone", "-q", str(origin), str(dest), cwd=origin.parent, env=env)
    if (origin / ".dvc" / "config.local").exists():
        shutil.copy2(origin / ".dvc" / "config.local", dest / ".dvc" / "config.local")
    return dest


def _scenario(
    base: Path, env: dict, name: str, files: int, big_mib: int, runs: int, s3: object | None
) -> list[Row]:
    origin = make_origin(base / name, env, files, big_mib)
    remote = "s3" if s3 is not None else "local"
    url = s3.url(f"bench-{name}") if s3 is not None else str(base / f"{name}-remote")  # type: ignore[attr-defined]
    _publish(origin, remote, url, env, s3)
    clone = _clone(origin, env)
    copies = base / f"{name}-cp"

    def setup(_: str) -> None:
        for path in (clone / "data", clone / ".dvc" / "cache", clone / ".dvc" / "tmp"):
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(base / "site-cache", ignore_errors=True)
        shutil.rmtree(copies, ignore_errors=True)

    cmds: dict[str, list[str]] = {
        "artifactctl": [str(BIN / "artifactctl"), "pull", "-r", remote],
        "dvc": [DVC, "pull", "-q", "-r", remote],
    }
    if s3 is None and files:
        data = origin / "data"
        script = f"mkdir -p {copies} && cp -r {data} {copies}/a && cp -r {copies}/a {copies}/b"
        cmds["cp"] = ["sh", "-c", script]
    # all three alternate run by run: the same machine noise hits each
    got = interleaved(cmds, runs, cwd=clone, env=env, setup=setup)
    size = f"{files:,} x 4 KiB" if files else f"{big_mib:,} MiB file"
    note = f"{size}, empty cache; {runs} run(s)"
    ours = got["artifactctl"]
    rows = [
        Row(
            f"pull {size} ({remote} remote)",
            "artifactctl pull",
            ours.seconds,
            "dvc pull",
            got["dvc"].seconds,
            ours.max_rss_mib,
            note=f"{note}; target <= {'1.0' if not files else '0.5'}x"
            + ("; peak RSS <= 120 MiB" if files >= 50_000 else ""),
        )
    ]
    if "cp" in got:
        rows.append(
            Row(
                f"pull {size} ({remote} remote)",
                "artifactctl pull",
                ours.seconds,
                "cp -r, twice",
                got["cp"].seconds,
                ours.max_rss_mib,
                note=f"{note}; target <= 2.5x",
            )
        )
    setup("")
    return rows


def workplace(prefix: str) -> tuple[Path, dict, Any]:
    """A temporary folder, the environment the commands run in there, and an S3 server
    (SeaweedFS, tests/s3server.py) not started yet."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    env = bench_env(
        DVC_SITE_CACHE_DIR=str(base / "site-cache"),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    sys.path.insert(0, str(TESTS))
    from s3server import S3Server

    return base, env, S3Server(base / "s3")


def run(quick: bool = False) -> list[Row]:
    runs = 1 if quick else 3
    base, env, server = workplace("bench-pull-")
    rows: list[Row] = []
    try:
        rows += _scenario(base, env, "small10k", 10_000, 0, runs, None)
        if not quick:
            rows += _scenario(base, env, "small50k", 50_000, 0, 1, None)
        server.start()
        # two runs: a 10,000-file dvc pull from SeaweedFS on 2 cores takes minutes
        rows += _scenario(base, env, "s3small", 2_000 if quick else 10_000, 0, min(runs, 2), server)
        rows += _scenario(base, env, "big", 0, 256 if quick else 1024, runs, None)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return rows
