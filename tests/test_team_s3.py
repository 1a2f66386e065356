"""Many CI runners on one S3 remote (SeaweedFS): concurrent pushes, a pull during a push,
corrupted objects on the bucket."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from s3server import S3Server
from support import BIN, artifactctl, dvc, git, init_repo, snapshot

pytestmark = pytest.mark.slow

KIB = 1024


def s3_origin(tmp_path: Path, server: S3Server) -> Path:
    """A bare git origin whose DVC default remote is a fresh prefix of the S3 bucket."""
    first = init_repo(tmp_path / "first", tmp_path / "unused-remote")
    server.configure_remote(first, "s3", f"team-{uuid.uuid4().hex[:10]}")
    git(first, "add", "-A")
    git(first, "commit", "-qm", "s3 remote")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(first), str(bare))
    return bare


def runner(origin: Path, dest: Path, server: S3Server) -> Path:
    """A CI runner's clone: the tracked remote settings, its own credentials."""
    git(origin.parent, "clone", "-q", str(origin), str(dest))
    prefix = dvc(dest, "config", "remote.s3.url").stdout.strip().split("/", 3)[3]
    server.configure_remote(dest, "s3", prefix)  # same URL; writes config.local credentials
    git(dest, "checkout", "-q", "--", ".dvc/config")
    return dest


def write_files(folder: Path, count: int, size: int, shared: bytes = b"") -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"part-{i:04d}.bin").write_bytes(os.urandom(size))
    if shared:
        (folder / "shared.bin").write_bytes(shared)  # the same object from both runners


def writer_and_reader(
    server: S3Server, tmp_path: Path, files: int, size: int, big: int = 0
) -> tuple[Path, Path, Path]:
    """Two runners of one origin; the writer has committed (not pushed) artifacts/data:
    ``files`` files of ``size`` bytes and ``big`` files of 16 MiB."""
    origin = s3_origin(tmp_path, server)
    writer = runner(origin, tmp_path / "writer", server)
    reader = runner(origin, tmp_path / "reader", server)
    data = writer / "artifacts/data"
    write_files(data, files, size)
    for i in range(big):
        (data / f"big-{i + 1}.bin").write_bytes(os.urandom(16 << 20))
    dvc(writer, "add", "-q", "artifacts/data")
    git(writer, "add", "-A")
    git(writer, "commit", "-qm", "data")
    return writer, reader, data


def push_in_background(repo: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "artifactctl"), "push", "--json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runners_push_at_once_to_one_bucket_and_nothing_is_lost(
    s3_server: S3Server, tmp_path: Path
) -> None:
    origin = s3_origin(tmp_path, s3_server)
    a = runner(origin, tmp_path / "a", s3_server)
    b = runner(origin, tmp_path / "b", s3_server)
    shared = os.urandom(256 * KIB)
    # Each folder in its own parent: `dvc add` writes a .gitignore beside the folder.
    write_files(a / "artifacts/a/from-a", 150, 16 * KIB, shared)
    write_files(b / "artifacts/b/from-b", 150, 16 * KIB, shared)
    (a / "artifacts/a/from-a/big.bin").write_bytes(os.urandom(12 << 20))  # multipart upload
    for repo, folder in ((a, "artifacts/a/from-a"), (b, "artifacts/b/from-b")):
        dvc(repo, "add", "-q", folder)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"{folder}")

    pushes = [push_in_background(a), push_in_background(b)]
    outcomes = [p.communicate(timeout=600) for p in pushes]
    for proc, (stdout, stderr) in zip(pushes, outcomes, strict=True):
        assert proc.returncode == 0, stderr
        assert json.loads(stdout)["pushed"] > 0

    git(a, "push", "-q", "origin", "HEAD:main")
    git(b, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    git(b, "push", "-q", "origin", "HEAD:main")
    c = runner(origin, tmp_path / "c", s3_server)
    pulled = artifactctl(c, "pull", "--json")
    assert pulled.returncode == 0, pulled.stderr
    doc = json.loads(pulled.stdout)
    assert doc["verified"] and doc["summary"]["failed"] == 0
    assert doc["summary"]["pulled"] == 2 * 151 + 1
    assert snapshot(c / "artifacts/a/from-a") == snapshot(a / "artifacts/a/from-a")
    assert snapshot(c / "artifacts/b/from-b") == snapshot(b / "artifacts/b/from-b")
    cloud = artifactctl(c, "status", "--cloud", "--json")
    assert cloud.returncode == 0, cloud.stdout + cloud.stderr


def test_a_pull_during_a_push_writes_only_whole_verified_files(
    s3_server: S3Server, tmp_path: Path
) -> None:
    writer, reader, data = writer_and_reader(s3_server, tmp_path, 200, 32 * KIB, big=2)
    # The commit is shared before its objects: the reader races the writer's push.
    git(writer, "push", "-q", "origin", "HEAD:main")
    git(reader, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    expected = snapshot(data)

    push = push_in_background(writer)
    attempts = []
    while push.poll() is None or not attempts:
        during = push.poll() is None
        result = artifactctl(reader, "pull", "--json")
        attempts.append((during, result.returncode))
        assert result.returncode in (0, 3), result.stderr  # done, or objects not there yet
        if result.returncode == 3:
            said = " ".join(result.stderr.split())
            assert "error:" in said and "Traceback" not in said, said
        else:
            doc = json.loads(result.stdout)
            assert doc["verified"] and doc["summary"]["failed"] == 0, doc["summary"]
        got = snapshot(reader / "artifacts/data") if (reader / "artifacts/data").is_dir() else {}
        partial = {rel for rel, digest in got.items() if expected.get(rel) != digest}
        assert not partial, f"files that are not the pushed bytes: {sorted(partial)[:5]}"
        time.sleep(0.2)
    _, stderr = push.communicate(timeout=600)
    assert push.returncode == 0, stderr
    assert any(during for during, _ in attempts), "no pull started while the push ran"

    final = artifactctl(reader, "pull", "--json")
    assert final.returncode == 0, final.stderr
    assert snapshot(reader / "artifacts/data") == expected
    assert artifactctl(reader, "status").returncode == 0


def test_corrupted_objects_on_s3_are_named_and_never_reach_cache_or_workspace(
    s3_server: S3Server, tmp_path: Path
) -> None:
    writer, reader, data = writer_and_reader(s3_server, tmp_path, 30, 8 * KIB)
    assert artifactctl(writer, "push").returncode == 0
    git(writer, "push", "-q", "origin", "HEAD:main")
    git(reader, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    expected = snapshot(data)

    # Someone's tool rewrites two objects on the bucket in place (same keys, other bytes).
    url = dvc(writer, "config", "remote.s3.url").stdout.strip()
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    listing = json.loads(
        (writer / ".dvc/cache/files/md5").joinpath(*_dir_object(writer)).read_text()
    )
    md5s = {f"artifacts/data/{e['relpath']}": e["md5"] for e in listing}
    bad = ["artifacts/data/part-0003.bin", "artifacts/data/part-0017.bin"]
    client = s3_server.client()
    for rel in bad:
        key = f"{prefix}/files/md5/{md5s[rel][:2]}/{md5s[rel][2:]}"
        client.put_object(Bucket=bucket, Key=key, Body=b"flipped bits")

    result = artifactctl(reader, "pull")
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    cache = reader / ".dvc/cache/files/md5"
    for rel in bad:
        assert rel in errors[0] and "corrupted on the remote" in errors[0], errors[0]
        assert not (cache / md5s[rel][:2] / md5s[rel][2:]).exists()
        assert not (reader / rel).exists()
    got = snapshot(reader / "artifacts/data") if (reader / "artifacts/data").is_dir() else {}
    assert all(expected[rel] == digest for rel, digest in got.items()), "a torn or foreign file"


def _dir_object(repo: Path) -> tuple[str, str]:
    """The cache path parts (xx, rest) of artifacts/data's .dir object."""
    text = (repo / "artifacts/data.dvc").read_text()
    md5 = text.split("md5: ")[1].split()[0]
    return md5[:2], md5[2:]
