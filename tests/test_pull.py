"""`artifactctl pull` / `push` on the default local remote: preserve rules, backups, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support import dvc, invoke, sha256
from syncsupport import (
    MODEL,
    MODEL_DIR,
    REFERENCE,
    TRAIN,
    clone,
    commit_all,
    edit,
    publish,
    pull_json,
    states,
    status_ok,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def published(pipeline_repo: Path) -> Path:
    publish(pipeline_repo)
    return pipeline_repo


@pytest.fixture
def fresh_clone(published: Path, tmp_path: Path) -> Path:
    return clone(published, tmp_path / "clone", tmp_path / "remote")


def test_fresh_clone_pull_keeps_edited_preserved_file_byte_identical(fresh_clone: Path) -> None:
    # The curated file is the only thing present: the user edited their copy before pulling.
    edit(fresh_clone / REFERENCE)
    before = sha256(fresh_clone / REFERENCE)
    code, doc, _ = pull_json(fresh_clone)
    assert code == 0
    assert sha256(fresh_clone / REFERENCE) == before
    got = states(doc)
    assert got[REFERENCE] == "preserved"
    assert got[TRAIN] == "pulled"
    assert doc["summary"]["preserved"] == 1 and doc["summary"]["failed"] == 0
    assert doc["verified"] is True
    others = status_ok(fresh_clone, REFERENCE)
    assert others and set(others.values()) == {"ok"}
    assert status_ok(fresh_clone)[REFERENCE] == "preserved"  # as verify says it
    # The journal is gone after a successful pull.
    assert not any((fresh_clone / ".dvc/tmp/artifactctl/journal").glob("*"))


def test_pull_keeps_preserved_file_when_old_version_is_in_cache(published: Path) -> None:
    repo = published
    old = (repo / REFERENCE).read_bytes()
    # Record a new version of the curated file, push it, then go back to the old content:
    # plain `dvc pull` overwrites this silently because the old content is in the cache.
    edit(repo / REFERENCE, "cluster,avg\nnew,1\n")
    dvc(repo, "commit", "-f", "-q", "reference")
    publish(repo)
    (repo / REFERENCE).write_bytes(old)
    code, doc, _ = pull_json(repo)
    assert code == 0
    assert (repo / REFERENCE).read_bytes() == old
    assert states(doc)[REFERENCE] == "preserved"


def test_prefer_remote_takes_remote_version_and_keeps_backup(fresh_clone: Path) -> None:
    edit(fresh_clone / REFERENCE)
    local = sha256(fresh_clone / REFERENCE)
    code, doc, _ = pull_json(fresh_clone, "--prefer-remote", REFERENCE)
    assert code == 0
    assert states(doc)[REFERENCE] == "backed_up"
    backup = fresh_clone / doc["backups"][REFERENCE]
    assert sha256(backup) == local
    # Outside every DVC-tracked folder: .artifactctl/backups/<stamp>/<original path>.
    assert backup.relative_to(fresh_clone).parts[:2] == (".artifactctl", "backups")
    assert backup.relative_to(fresh_clone).as_posix().endswith("/" + REFERENCE)
    assert status_ok(fresh_clone)[REFERENCE] == "ok"
    # The backup is git-ignored.
    from support import git

    assert git(fresh_clone, "status", "--porcelain").stdout.strip() == ""


def test_modified_unpreserved_file_is_left_alone_then_forced_with_backup(
    published: Path,
) -> None:
    repo = published
    edit(repo / TRAIN, "row_id,y\n0,1\n")
    shutil.rmtree(repo / "artifacts/models/baseline/v2-001")
    mine = sha256(repo / TRAIN)
    code, doc, _ = pull_json(repo)
    assert code == 0
    got = states(doc)
    assert got[TRAIN] == "modified"
    assert sha256(repo / TRAIN) == mine
    assert got["artifacts/models/baseline/v2-001/model.joblib"] == "pulled"
    assert status_ok(repo)["artifacts/models/baseline/v2-001"] == "ok"

    code, doc, _ = pull_json(repo, "--force")
    assert code == 0
    assert states(doc)[TRAIN] == "backed_up"
    assert sha256(repo / doc["backups"][TRAIN]) == mine
    assert status_ok(repo)[TRAIN] == "ok"
    # The backup is outside the stage's outputs: DVC sees nothing changed, and
    # `dvc repro` (which deletes unknown files in the outputs it rebuilds) leaves it be.
    assert invoke(repo, "status").exit_code == 0
    assert "up to date" in dvc(repo, "status").stdout
    dvc(repo, "repro", "-q")
    assert sha256(repo / doc["backups"][TRAIN]) == mine


def test_preserved_file_inside_tracked_directory_survives(published: Path) -> None:
    repo = published
    data = bytearray((repo / MODEL).read_bytes())
    data[50] ^= 0xFF
    (repo / MODEL).write_bytes(bytes(data))
    (repo / MODEL_DIR / "metadata.json").unlink()
    (repo / MODEL_DIR / "notes.txt").write_text("mine\n")
    invoke(repo, "preserve", "add", MODEL)
    before = sha256(repo / MODEL)
    code, doc, _ = pull_json(repo, "--force")
    assert code == 0, doc
    got = states(doc)
    assert got[MODEL] == "preserved"
    assert got[f"{MODEL_DIR}/metadata.json"] == "pulled"
    assert got[f"{MODEL_DIR}/notes.txt"] == "extra"
    assert sha256(repo / MODEL) == before
    assert (repo / MODEL_DIR / "notes.txt").read_text() == "mine\n"
    assert (repo / MODEL_DIR / "metadata.json").exists()


def test_pull_targets_only_touch_named_outputs(fresh_clone: Path) -> None:
    code, doc, _ = pull_json(fresh_clone, TRAIN)
    assert code == 0
    assert set(states(doc)) == {TRAIN}
    assert (fresh_clone / TRAIN).exists()
    assert not (fresh_clone / "artifacts/data/eval.csv").exists()


def test_pull_reports_corrupted_remote_object_as_failed(published: Path, tmp_path: Path) -> None:
    repo = clone(published, tmp_path / "c2", tmp_path / "remote")
    # Corrupt the remote's copy of train.csv.
    md5 = next(o["md5"] for o in _lock_outs(repo) if o["path"] == TRAIN)
    obj = tmp_path / "remote" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"garbage\n")
    code, _, stderr = pull_json(repo)
    # DVC checks the download against its name and drops it: exit 3, one line naming the
    # file, and the workspace does not get the garbage.
    assert code == 3, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and TRAIN in errors[0] and "corrupted" in errors[0], stderr
    assert not (repo / TRAIN).exists()


def test_corrupted_cache_object_never_reaches_the_workspace(
    published: Path, tmp_path: Path
) -> None:
    repo = clone(published, tmp_path / "c3", tmp_path / "remote")
    dvc(repo, "fetch", "-q")
    md5 = next(o["md5"] for o in _lock_outs(repo) if o["path"] == TRAIN)
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    # Bit rot: one byte flips in place; size, inode and mtime stay, so DVC's fetch trusts
    # the object (its state says it was verified).
    st = obj.stat()
    obj.chmod(0o644)
    with open(obj, "r+b") as fh:
        first = fh.read(1)
        fh.seek(0)
        fh.write(bytes([first[0] ^ 0x01]))
    os.utime(obj, ns=(st.st_atime_ns, st.st_mtime_ns))
    code, doc, _ = pull_json(repo)
    assert code == 1
    got = states(doc)
    assert got[TRAIN] == "failed"
    assert "corrupted" in next(f["detail"] for f in doc["files"] if f["path"] == TRAIN)
    assert not (repo / TRAIN).exists()  # not even a partial or wrong copy
    assert got["artifacts/data/eval.csv"] == "pulled"
    assert doc["summary"]["failed"] == 1


def test_pull_tells_dvc_the_hashes_it_verified(fresh_clone: Path) -> None:
    from dvc.repo import Repo

    code, doc, _ = pull_json(fresh_clone)
    assert code == 0, doc
    md5 = next(o["md5"] for o in _lock_outs(fresh_clone) if o["path"] == TRAIN)
    with Repo(str(fresh_clone)) as repo:
        _, hash_info = repo.state.get(str(fresh_clone / TRAIN), repo.fs)
    assert hash_info is not None and hash_info.value == md5
    assert dvc(fresh_clone, "status", "-q").returncode == 0


def _lock_outs(repo: Path) -> list[dict]:
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return [o for body in lock["stages"].values() for o in body.get("outs", [])]


def test_missing_object_on_remote_is_exit_3_and_workspace_untouched(
    published: Path, tmp_path: Path
) -> None:
    repo = clone(published, tmp_path / "c3", tmp_path / "remote")
    md5 = next(o["md5"] for o in _lock_outs(repo) if o["path"] == TRAIN)
    (tmp_path / "remote" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    edit(repo / REFERENCE)
    before = sha256(repo / REFERENCE)
    result = invoke(repo, "pull")
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "fetching from remote 'local' failed" in lines[0]
    assert "Traceback" not in result.stderr
    assert sha256(repo / REFERENCE) == before
    assert not (repo / TRAIN).exists()


def test_local_remote_folder_that_does_not_exist_is_named(published: Path, tmp_path: Path) -> None:
    repo = clone(published, tmp_path / "c4", tmp_path / "elsewhere")
    (tmp_path / "elsewhere").rmdir()  # e.g. a clone made in another folder than the remote's
    result = invoke(repo, "pull")
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert f"is a folder that does not exist: {tmp_path / 'elsewhere'}" in lines[0]
    assert not (repo / TRAIN).exists()


def test_unknown_remote_is_exit_3(published: Path) -> None:
    result = invoke(published, "pull", "--remote", "nope")
    assert result.exit_code == 3
    assert "unknown remote 'nope'" in result.stderr


def test_prefer_remote_of_untracked_path_is_usage_error(published: Path) -> None:
    result = invoke(published, "pull", "--prefer-remote", "artifacts/nothing.csv")
    assert result.exit_code == 2


def test_push_reports_preserved_local_edit_and_does_not_push_it(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    edit(pipeline_repo / REFERENCE)
    result = invoke(pipeline_repo, "push", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["preserved_not_pushed"] == [REFERENCE]
    assert doc["pushed"] > 0
    edited = sha256(pipeline_repo / REFERENCE)
    remote_files = [p for p in (tmp_path / "remote").rglob("*") if p.is_file()]
    assert all(sha256(p) != edited for p in remote_files)
    again = json.loads(invoke(pipeline_repo, "push", "--json").stdout)
    assert again["pushed"] == 0 and again["already_on_remote"] == doc["objects"]
    human = invoke(pipeline_repo, "push")
    assert "preserved" in human.stdout and REFERENCE in human.stdout


def test_pull_human_summary_names_preserved_file(fresh_clone: Path) -> None:
    edit(fresh_clone / REFERENCE)
    result = invoke(fresh_clone, "pull")
    assert result.exit_code == 0, result.output
    assert "preserved (local differs from remote, kept)" in result.stdout
    assert REFERENCE in result.stdout


def test_pull_with_nothing_to_do_is_unchanged(published: Path) -> None:
    code, doc, _ = pull_json(published)
    assert code == 0
    assert doc["summary"]["pulled"] == 0
    assert doc["summary"]["unchanged"] == len(doc["files"]) > 0
    commit_all(published)
