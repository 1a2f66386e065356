"""`artifactctl clean --cache`: collect unused DVC cache objects, keep what anything needs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from support import artifactctl, dvc, git, init_repo, invoke, snapshot

from artifactctl.dvc.tracked import cache_object

pytestmark = pytest.mark.slow


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def add_and_commit(repo: Path, rel: str, data: bytes, message: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    dvc(repo, "add", "-q", rel)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture(scope="module")
def gc_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A repo whose cache holds objects named by tips, by history only, by nothing, and
    objects whose bytes a champion, an archived experiment or a preserved file still has."""
    base = tmp_path_factory.mktemp("gc")
    repo = init_repo(base / "repo", base / "remote")
    blobs = {
        "tag": b"a version 1 (tagged)\n",
        "history": b"a version 2 (history only)\n",
        "head": b"a version 3 (main tip)\n",
        "champion": b"champion model bytes\n",
        "archived": b"archived experiment bytes\n",
        "preserved": b"curated baseline bytes\n",
        "branch1": b"feature dir file 1\n",
        "branch2": b"feature dir file 2\n",
        "orphan": b"added, never committed\n",
    }
    add_and_commit(repo, "data/a.txt", blobs["tag"], "a v1")
    git(repo, "tag", "-a", "v1", "-m", "release 1")
    add_and_commit(repo, "data/a.txt", blobs["history"], "a v2")
    for key in ("champion", "archived", "preserved"):
        add_and_commit(repo, f"data/{key}.bin", blobs[key], key)
    for key in ("champion", "archived", "preserved"):
        git(repo, "rm", "-q", f"data/{key}.bin.dvc")
        (repo / "data" / f"{key}.bin").unlink()
    git(repo, "commit", "-qm", "drop the three files from DVC")
    add_and_commit(repo, "data/a.txt", blobs["head"], "a v3")

    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feat").mkdir()
    (repo / "feat" / "one.txt").write_bytes(blobs["branch1"])
    (repo / "feat" / "two.txt").write_bytes(blobs["branch2"])
    dvc(repo, "add", "-q", "feat")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature dir")
    git(repo, "checkout", "-q", "main")
    shutil.rmtree(repo / "feat")

    (repo / "data" / "scratch.bin").write_bytes(blobs["orphan"])
    dvc(repo, "add", "-q", "data/scratch.bin")
    (repo / "data" / "scratch.bin.dvc").unlink()

    # The bytes that production, the archive and a preserve rule still hold (plain files).
    prod = repo / "artifacts" / "models" / "production" / "champion_current"
    prod.mkdir(parents=True)
    (prod / "model.joblib").write_bytes(blobs["champion"])
    (repo / "artifacts" / "archive" / "v2-003").mkdir(parents=True)
    (repo / "artifacts" / "archive" / "v2-003" / "model.joblib").write_bytes(blobs["archived"])
    (repo / "artifacts" / "reference").mkdir(parents=True)
    (repo / "artifacts" / "reference" / "base.csv").write_bytes(blobs["preserved"])
    (repo / "pyproject.toml").write_text(
        '[tool.artifactctl]\npreserve = ["artifacts/reference/*.csv"]\n'
    )
    dvc(repo, "push", "-q")
    return repo, {k: md5(v) for k, v in blobs.items()}


@pytest.fixture
def repo(gc_repo: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    src, hashes = gc_repo
    copy = tmp_path / "repo"
    shutil.copytree(src, copy, symlinks=True)
    shutil.copytree(src.parent / "remote", tmp_path / "remote")
    (copy / ".dvc" / "config.local").write_text(
        f"['remote \"local\"']\n    url = {tmp_path / 'remote'}\n"
    )
    return copy, hashes


def cached(repo: Path, md5s: dict[str, str]) -> set[str]:
    return {k for k, m in md5s.items() if cache_object(repo / ".dvc" / "cache", m).exists()}


def test_cache_dry_run_lists_unused_objects_and_removes_nothing(
    repo: tuple[Path, dict[str, str]],
) -> None:
    path, hashes = repo
    before = snapshot(path / ".dvc" / "cache")
    result = invoke(path, "clean", "--cache", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert {o["md5"] for o in report["unused"]} == {hashes["history"], hashes["orphan"]}
    assert report["summary"]["bytes_reclaimable"] == sum(o["size"] for o in report["unused"])
    assert report["summary"]["protected"] == 3
    assert snapshot(path / ".dvc" / "cache") == before
    text = invoke(path, "clean", "--cache")
    assert "2 unused object(s)" in text.stdout and "dry run" in text.stdout


def test_cache_force_keeps_refs_champion_archive_preserved_and_never_touches_remote(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, hashes = repo
    remote = tmp_path / "remote"
    assert any(remote.rglob("*.txt")) or any(remote.rglob("*"))
    remote_before = snapshot(remote)
    workspace = snapshot(path / "artifacts")
    result = artifactctl(path, "clean", "--cache", "--force", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {o["md5"] for o in report["unused"]} == {hashes["history"], hashes["orphan"]}
    assert cached(path, hashes) == set(hashes) - {"history", "orphan"}
    assert snapshot(remote) == remote_before
    assert snapshot(path / "artifacts") == workspace
    # every ref is still restorable from the local cache alone
    git(path, "checkout", "-q", "-f", "feature")
    dvc(path, "checkout", "-q")
    assert (path / "feat" / "two.txt").read_bytes() == b"feature dir file 2\n"
    git(path, "checkout", "-q", "-f", "v1")
    dvc(path, "checkout", "-q", "--force")
    assert (path / "data" / "a.txt").read_bytes() == b"a version 1 (tagged)\n"
    # a second collection finds nothing more
    again = json.loads(invoke(path, "clean", "--cache", "--json").stdout)
    assert again["unused"] == []


def test_cache_collection_refuses_a_shared_cache(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = repo
    shared = tmp_path / "shared-cache"
    shutil.move(path / ".dvc" / "cache", shared)
    dvc(path, "cache", "dir", "--local", str(shared))
    result = invoke(path, "clean", "--cache", "--force")
    assert result.exit_code == 2
    assert "shared cache" in result.stderr
    assert any(shared.rglob("*"))


def test_pipeline_clean_keeps_production_preserved_and_dvc_lock_byte_identical(
    pipeline_repo: Path,
) -> None:
    repo = pipeline_repo
    champion = repo / "artifacts" / "models" / "production" / "champion_current"
    shutil.copytree(repo / "artifacts" / "models" / "candidates" / "v2-006", champion)
    tests = repo / "artifacts" / "tests"
    for i in range(4):
        run = tests / f"run{i}"
        (run / "models").mkdir(parents=True)
        (run / "models" / "champion").symlink_to(champion, target_is_directory=True)
        doc = {"schema": "artifactctl.run/1", "created": f"2020-01-0{i + 1}T00:00:00Z"}
        (run / "run.json").write_text(json.dumps(doc))
    keep = {
        k: v
        for k, v in snapshot(repo).items()
        if not k.startswith(("artifacts/tests/", ".dvc/tmp/", ".dvc/cache/"))
    }
    dry = artifactctl(repo, "clean", "--keep", "1")
    assert dry.returncode == 0 and sorted(p.name for p in tests.iterdir()) == [
        f"run{i}" for i in range(4)
    ]
    done = artifactctl(repo, "clean", "--keep", "1", "--force")
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tests.iterdir()] == ["run3"]
    gc = artifactctl(repo, "clean", "--cache", "--force", "--json")
    assert gc.returncode == 0, gc.stderr
    after = {
        k: v
        for k, v in snapshot(repo).items()
        if not k.startswith(("artifacts/tests/", ".dvc/tmp/", ".dvc/cache/"))
    }
    assert after == keep
    status = artifactctl(repo, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert os.path.exists(repo / "dvc.lock")
