"""push at thousands of files to a local-folder and an S3 remote: only what the remote lacks,
each object verified on its way, and what DVC itself then sees (``dvc status -c``, ``dvc pull``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from crashsupport import kill_at, start
from s3server import S3Server
from support import artifactctl, dvc, git, init_repo, invoke, snapshot
from syncsupport import clone
from test_pull_many import assert_whole_or_absent, make_origin

FILES = 3000


def make_repo(base: Path, files: int = FILES) -> Path:
    """A repo tracking data/ (``files`` small files in folders, one 3 MiB file), not pushed."""
    return make_origin(base, files, pushed=False)


def use_s3(repo: Path, server: S3Server) -> str:
    """Make a new prefix of ``server`` the default remote; its URL."""
    prefix = f"push-{uuid.uuid4().hex[:10]}"
    server.configure_remote(repo, "s3", prefix)
    git(repo, "commit", "-qam", "s3 remote")
    return server.url(prefix)


def push(repo: Path, *args: str) -> tuple[int, dict, str]:
    result = artifactctl(repo, "push", "--json", *args)
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, doc, result.stderr


def cloud_in_sync(repo: Path) -> None:
    status = dvc(repo, "status", "-c", "--json")
    assert json.loads(status.stdout) == {}, status.stdout


def recorded(repo: Path) -> dict[str, str]:
    """data/'s files and their md5 as recorded (from the cache's listing)."""
    dir_md5 = (repo / "data.dvc").read_text().split("md5: ")[1].split()[0]
    listing = json.loads(cache_path(repo, dir_md5).read_text())
    return {f"data/{e['relpath']}": e["md5"] for e in listing} | {"data": dir_md5}


def cache_path(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def remote_objects(remote: Path) -> dict[str, Path]:
    """Every object under its final name on a local remote (md5 -> path)."""
    base = remote / "files" / "md5"
    return {
        p.parent.name + p.name: p
        for p in base.glob("*/*")
        if p.is_file() and not p.name.endswith(".tmp")
    }


def objects_in(remote: Path) -> int:
    """How many objects a local remote holds under their final names (a cheap count)."""
    base = remote / "files" / "md5"
    if not base.is_dir():
        return 0
    names = (n for d in os.scandir(base) if d.is_dir() for n in os.listdir(d.path))
    return sum(1 for n in names if not n.endswith(".tmp"))


def assert_every_object_whole(remote: Path) -> None:
    for md5, path in remote_objects(remote).items():
        actual = hashlib.md5(path.read_bytes()).hexdigest()
        assert actual == md5.removesuffix(".dir"), f"{path} is partial or foreign"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_push_of_thousands_of_files_is_what_dvc_pulls_then_only_new_objects_go(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    repo = make_repo(tmp_path)
    if kind == "s3":
        use_s3(repo, request.getfixturevalue("s3_server"))
    code, doc, err = push(repo)
    assert code == 0, err
    assert doc["ok"] and doc["pushed"] == FILES + 2  # the files, big.bin, the .dir listing
    assert doc["already_on_remote"] == 0 and doc["failed"] == []
    cloud_in_sync(repo)
    if kind == "local":
        objects = remote_objects(tmp_path / "remote")
        assert len(objects) == FILES + 2
        assert {oct(p.stat().st_mode & 0o777) for p in objects.values()} == {"0o444"}  # as DVC
    # DVC itself, in a fresh clone, pulls identical bytes from what was pushed
    other = clone(repo, tmp_path / "other", tmp_path / "remote" if kind == "local" else None)
    dvc(other, "pull", "-q")
    assert snapshot(other / "data") == snapshot(repo / "data")

    code, again, err = push(repo)
    assert code == 0, err
    assert again["pushed"] == 0 and again["already_on_remote"] == FILES + 2

    for i in range(5):
        (repo / "data" / "new" / f"n{i}.txt").parent.mkdir(exist_ok=True)
        (repo / "data" / "new" / f"n{i}.txt").write_text(f"new file {i}\n")
    dvc(repo, "add", "-q", "data")
    code, more, err = push(repo)
    assert code == 0, err
    assert more["pushed"] == 6  # five files and the new listing
    cloud_in_sync(repo)


@pytest.mark.parametrize("kind", ["local", pytest.param("s3", marks=pytest.mark.slow)])
def test_a_corrupted_cache_object_is_named_not_pushed_and_exits_1(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    repo = make_repo(tmp_path, files=40)
    if kind == "s3":
        use_s3(repo, request.getfixturevalue("s3_server"))
    files = recorded(repo)
    bad = ["data/d0/f00003.bin", "data/big.bin"]
    for rel in bad:
        obj = cache_path(repo, files[rel])
        obj.chmod(0o644)
        obj.write_bytes(obj.read_bytes()[:-1] + b"!")  # same size, one byte changed
        obj.chmod(0o444)  # DVC trusts a read-only object
    code, doc, err = push(repo)
    assert code == 1, err
    assert "Traceback" not in err
    assert not doc["ok"]
    failed = {f["path"]: f for f in doc["failed"]}
    for rel in bad:
        assert "corrupted in the cache" in failed[rel]["reason"], failed
    # the listing naming them is held back too: the remote never lists a file it lacks
    assert "not pushed" in failed["data"]["reason"]
    assert doc["pushed"] == 40 + 2 - 1 - len(bad)
    human = artifactctl(repo, "push")
    assert human.returncode == 1
    for rel in bad:
        assert rel in human.stdout and "corrupted in the cache" in human.stdout
    if kind == "local":
        on_remote = remote_objects(tmp_path / "remote")
        assert files["data"] not in on_remote
        assert not {files[rel] for rel in bad} & set(on_remote)
        assert_every_object_whole(tmp_path / "remote")
        assert not list((tmp_path / "remote").rglob("*.tmp"))
    status = json.loads(dvc(repo, "status", "-c", "--json").stdout)
    assert status, "dvc calls the remote complete without the corrupted objects"


@pytest.mark.slow
def test_sigkill_during_a_push_leaves_no_partial_object_under_its_name(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    remote = tmp_path / "remote"
    # the first object partly written: only its temporary name exists
    kill_at(repo, "push-sending", "push")
    assert list(remote.rglob("*.tmp")), "killed before any object was being written"
    assert_every_object_whole(remote)
    # then at moments of the copy, each asserted to be mid-push, from an empty remote
    for at_least in (100, FILES // 4):
        shutil.rmtree(remote)
        run = start(repo, "push", pause_at="never")
        deadline = time.monotonic() + 300
        while run.running() and objects_in(remote) < at_least:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        run.kill()  # asserts it was still running
        assert len(remote_objects(remote)) < FILES + 2
        assert_every_object_whole(remote)
    code, doc, err = push(repo)
    assert code == 0, err
    assert 0 < doc["pushed"] < FILES + 2
    cloud_in_sync(repo)
    other = clone(repo, tmp_path / "other", remote)
    dvc(other, "pull", "-q")
    assert snapshot(other / "data") == snapshot(repo / "data")


@pytest.mark.slow
def test_big_objects_go_to_s3_in_parts_and_a_corrupted_one_is_aborted(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactctl.sync import upload_s3

    # parts of 5 MiB (S3's smallest) from 10 MiB on: the multipart path without 100 MiB files
    monkeypatch.setattr(upload_s3, "PART", 5 << 20)
    monkeypatch.setattr(upload_s3, "MULTIPART_AT", 10 << 20)
    repo = init_repo(tmp_path / "origin")
    for name in ("good.bin", "bad.bin"):
        (repo / name).write_bytes(os.urandom((17 << 20) + 12345))  # 4 parts, the last short
        dvc(repo, "add", "-q", name)
    url = use_s3(repo, s3_server)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "big files")
    bad_md5 = (repo / "bad.bin.dvc").read_text().split("md5: ")[1].split()[0]
    obj = cache_path(repo, bad_md5)
    obj.chmod(0o644)
    with open(obj, "r+b") as fh:  # a byte of the third part changed
        fh.seek(11 << 20)
        fh.write(b"\0" if fh.read(1) != b"\0" else b"\1")
    obj.chmod(0o444)
    result = invoke(repo, "push", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["pushed"] == 1
    assert [(f["path"], f["md5"]) for f in doc["failed"]] == [("bad.bin", bad_md5)]
    assert "corrupted in the cache" in doc["failed"][0]["reason"]
    status = json.loads(dvc(repo, "status", "-c", "--json").stdout)
    assert "bad.bin" in json.dumps(status) and "good.bin" not in json.dumps(status), status
    good_md5 = (repo / "good.bin.dvc").read_text().split("md5: ")[1].split()[0]
    assert etag(s3_server, url, good_md5).endswith('-4"')  # sent in four parts
    other = clone(repo, tmp_path / "other")
    dvc(other, "pull", "-q", "good.bin")
    assert snapshot(other, ["good.bin"]) == snapshot(repo, ["good.bin"])


def etag(server: S3Server, url: str, md5: str) -> str:
    """The S3 ETag of an object of ``repo``'s S3 remote (multipart ones end in -<parts>)."""
    import s3fs
    from s3server import ACCESS_KEY, SECRET_KEY

    fs = s3fs.S3FileSystem(
        key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": server.endpoint}
    )
    return str(fs.info(f"{url.removeprefix('s3://')}/files/md5/{md5[:2]}/{md5[2:]}")["ETag"])


def test_s3_existence_checks_pick_heads_or_listings_by_round_trips() -> None:
    from artifactctl.sync.upload_s3 import _estimated_size, _heads_cheaper, _rounds

    # a first page of 1,000 keys that reached folder 3f (64 of 256): about 4,000 objects
    page = [f"{n * 64 // 1000:02x}{'0' * 30}" for n in range(1000)]
    assert _estimated_size(page) == 4000
    assert _estimated_size([]) == 0
    assert _rounds(4000, 16, 32) == 1  # 16 prefixes of 250 keys: one page each, at once
    assert _rounds(1_000_000, 16, 32) == 63  # chains of 63 pages
    assert _rounds(1_000_000, 256, 32) == 32  # 4 pages a prefix, 8 rounds of 32 prefixes
    assert not _heads_cheaper(200, 4000, 16, 32)  # 16 listings, one round, 4,000 keys
    assert _heads_cheaper(1000, 1_000_000, 256, 32)  # few objects to a big remote
    assert _heads_cheaper(10_000, 1_000_000, 256, 32)  # a million keys to parse: HEADs
    assert not _heads_cheaper(50_000, 1_000_000, 256, 32)


@pytest.mark.slow
def test_a_pull_during_a_push_from_another_clone_never_sees_partial_objects(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path, files=10)  # pushed by DVC
    remote = tmp_path / "remote"
    mate = clone(origin, tmp_path / "mate", remote)
    for i in range(500):
        (mate / "data" / "new" / f"n{i:04d}.bin").parent.mkdir(parents=True, exist_ok=True)
        (mate / "data" / "new" / f"n{i:04d}.bin").write_bytes(os.urandom(2048))
    (mate / "data" / "huge.bin").write_bytes(os.urandom(8 << 20))
    dvc(mate, "add", "-q", "data")
    git(mate, "commit", "-qam", "new data")
    repo = clone(mate, tmp_path / "clone", remote)
    # the push holds one object half-sent for a few seconds while the others go
    run = start(mate, "push", pause_at="push-sending", seconds=6)
    outcomes = []
    while run.running():
        result = artifactctl(repo, "pull")
        assert result.returncode in (0, 3), result.stderr
        # an object not there yet is missing; one there is whole (never "corrupted")
        assert "corrupted" not in result.stderr, result.stderr
        outcomes.append(result.returncode)
        assert_whole_or_absent(repo, mate)
    assert run.wait() == 0, run.stderr
    # the listing goes last: while a file was missing, no pull could check out data/
    assert 3 in outcomes, outcomes
    final = artifactctl(repo, "pull")
    assert final.returncode == 0, final.stderr
    assert snapshot(repo / "data") == snapshot(mate / "data")
