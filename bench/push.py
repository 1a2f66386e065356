"""`artifactctl push` vs `dvc push`: 10,000 files of 4 KiB to a local-folder and an S3 remote.

One repository tracks ``data/`` (its objects in the cache, not pushed). Each timed run
starts from an empty remote (a local remote's folder deleted; an S3 remote pointed at a
new key prefix, untimed) and the two commands alternate run by run. A "nothing to push"
row times a second push of everything already there (no object sent: the existence
checks alone). S3 is a SeaweedFS server started here (tests/s3server.py).

Quick mode: one run each, 2,000 files to S3.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from bench.common import BIN, Row, interleaved
from bench.pull import DVC, add_remote, make_origin, sh, workplace


def _commands(remote: str) -> dict[str, list[str]]:
    return {
        "artifactctl": [str(BIN / "artifactctl"), "push", "-r", remote],
        "dvc": [DVC, "push", "-q", "-r", remote],
    }


def _scenario(base: Path, env: dict, files: int, runs: int, s3: object | None) -> list[Row]:
    name = "s3" if s3 is not None else "local"
    repo = make_origin(base / f"push-{name}", env, files, 0)
    folder = base / f"push-{name}-remote"

    def url() -> str:
        return s3.url(f"bench-push-{uuid.uuid4().hex[:8]}") if s3 else str(folder)  # type: ignore[attr-defined]

    add_remote(repo, name, url(), env, s3)

    def empty_remote(_: str) -> None:
        shutil.rmtree(repo / ".dvc" / "tmp", ignore_errors=True)  # DVC's remote index too
        if s3 is None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            sh(DVC, "remote", "modify", name, "url", url(), cwd=repo, env=env)

    got = interleaved(_commands(name), runs, cwd=repo, env=env, setup=empty_remote)
    size = f"{files:,} x 4 KiB"
    note = f"{size}, empty remote before each run; {runs} run(s)"
    rows = [
        Row(
            f"push {size} ({name} remote)",
            "artifactctl push",
            got["artifactctl"].seconds,
            "dvc push",
            got["dvc"].seconds,
            got["artifactctl"].max_rss_mib,
            note=note,
        )
    ]
    # everything is on the remote now (the last run pushed it): time the checks alone
    again = interleaved(_commands(name), runs, cwd=repo, env=env)
    rows.append(
        Row(
            f"re-push, nothing to send ({name} remote)",
            "artifactctl push",
            again["artifactctl"].seconds,
            "dvc push",
            again["dvc"].seconds,
            again["artifactctl"].max_rss_mib,
            note=f"{size} already on the remote; {runs} run(s)",
        )
    )
    return rows


def run(quick: bool = False) -> list[Row]:
    runs = 1 if quick else 3
    base, env, server = workplace("bench-push-")
    rows: list[Row] = []
    try:
        rows += _scenario(base, env, 10_000, runs, None)
        server.start()
        rows += _scenario(base, env, 2_000 if quick else 10_000, runs, server)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return rows
