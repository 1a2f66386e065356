"""A pull that runs out of disk space: exit 3, one line, nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import BIN, dvc, git, init_repo, sha256
from syncsupport import clone

LOCAL_EDIT = "row_id,y\n0,1.5\n"


def can_mount_tmpfs(where: Path) -> bool:
    """A private mount namespace (unshare -rm) lets the test mount a tiny tmpfs."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$1"', "_", str(where)],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_disk_full_during_pull_is_exit_3_and_leaves_the_workspace_alone(tmp_path: Path) -> None:
    small_fs = tmp_path / "small-fs"
    small_fs.mkdir()
    if not can_mount_tmpfs(small_fs):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")

    remote = tmp_path / "remote"
    origin = init_repo(tmp_path / "origin", remote=remote)
    data = origin / "artifacts" / "data"
    data.mkdir(parents=True)
    (data / "big.bin").write_bytes(os.urandom(24 << 20))
    (data / "small.csv").write_text("row_id,y\n0,1.0\n")
    dvc(origin, "add", "-q", "artifacts/data/big.bin", "artifacts/data/small.csv")
    (origin / "pyproject.toml").write_text(
        '[tool.artifactctl]\npreserve = ["artifacts/data/small.csv"]\n'
    )
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "data")
    dvc(origin, "push", "-q")

    repo = clone(origin, tmp_path / "clone", remote=remote)
    (repo / "artifacts/data/small.csv").write_text(LOCAL_EDIT)  # preserved, edited locally
    before = sha256(repo / "artifacts/data/small.csv")
    # The cache, where DVC downloads to, sits on an 8 MiB file system: the 24 MiB object
    # cannot fit.
    dvc(repo, "cache", "dir", "--local", str(small_fs / "cache"))

    proc = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            'mount -t tmpfs -o size=8m tmpfs "$1" && exec "$2" pull',
            "_",
            str(small_fs),
            str(BIN / "artifactctl"),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "space" in errors[0].lower(), errors[0]
    assert "Traceback" not in proc.stderr
    # nothing partial under a final name, and the preserved local edit is untouched
    assert not (repo / "artifacts/data/big.bin").exists()
    assert sha256(repo / "artifacts/data/small.csv") == before
