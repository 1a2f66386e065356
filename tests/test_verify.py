"""`artifactctl verify`: re-hashing against what DVC and run manifests recorded."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from support import artifactctl, dvc, init_repo, invoke

from artifactctl.dvc.tracked import cache_object, read_manifest, tracked_outs

MODEL_DIR = "artifacts/models/candidates/v2-006"
MODEL = f"{MODEL_DIR}/model.joblib"
TRAIN = "artifacts/data/train.csv"
REFERENCE = "artifacts/reference/healthy_cluster_avg.csv"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_verify(repo: Path, *args: str) -> tuple[int, dict]:
    result = invoke(repo, "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def by_path(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc["files"]}


def problems(doc: dict) -> dict[str, str]:
    return {f["path"]: f["state"] for f in doc["files"] if f["problem"]}


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_is_all_ok_after_repro_and_reports_every_file(pipeline_repo: Path) -> None:
    code, doc = run_verify(pipeline_repo, "--deep")
    assert code == 0, doc
    assert doc["schema"] == "artifactctl.verify/1"
    assert doc["ok"] is True and doc["deep"] is True
    files = by_path(doc)
    assert files[TRAIN]["state"] == "ok"
    assert files[TRAIN]["expected"] == files[TRAIN]["actual"] == md5(pipeline_repo / TRAIN)
    assert files[MODEL]["recorded_in"].startswith("dvc.lock")
    assert files[MODEL]["artifact"] == MODEL_DIR
    summary = doc["summary"]
    assert summary["files"] == len(doc["files"]) == summary["ok"]
    assert summary["problems"] == 0 and summary["skipped_unchanged"] == 0
    assert summary["bytes_hashed"] == summary["bytes_checked"] > 0
    keys = {"path", "state", "kind", "artifact", "recorded_in", "algorithm", "expected", "actual"}
    assert keys <= set(doc["files"][0])


def test_verify_names_a_flipped_byte_with_expected_and_actual_hash(pipeline_repo: Path) -> None:
    model = pipeline_repo / MODEL
    before = md5(model)
    flip_byte(model)
    result = invoke(pipeline_repo, "verify")
    assert result.exit_code == 1
    assert MODEL in result.stdout and "corrupted" in result.stdout
    assert before in result.stdout and md5(model) in result.stdout
    code, doc = run_verify(pipeline_repo)
    assert code == 1
    assert problems(doc) == {MODEL: "corrupted"}
    got = by_path(doc)[MODEL]
    assert (got["expected"], got["actual"]) == (before, md5(model))


def test_verify_reports_truncated_deleted_and_extra_files(pipeline_repo: Path) -> None:
    train = pipeline_repo / TRAIN
    with train.open("r+b") as fh:
        fh.truncate(train.stat().st_size // 2)
    (pipeline_repo / MODEL).unlink()
    (pipeline_repo / MODEL_DIR / "notes.txt").write_text("stray\n")
    code, doc = run_verify(pipeline_repo)
    assert code == 1
    assert problems(doc) == {
        TRAIN: "corrupted",
        MODEL: "missing",
        f"{MODEL_DIR}/notes.txt": "extra",
    }
    assert "recorded" in by_path(doc)[TRAIN]["detail"]  # the size differs from the record
    assert doc["summary"]["corrupted"] == doc["summary"]["missing"] == doc["summary"]["extra"] == 1


def age_folders(top: Path, seconds: float = 60) -> None:
    for path in [top, *top.rglob("*")]:
        if path.is_dir():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_verify_sees_extra_files_added_after_a_clean_check(pipeline_repo: Path) -> None:
    """A clean check leaves nothing behind that could hide a file added later."""
    top = pipeline_repo / MODEL_DIR
    age_files(pipeline_repo / "artifacts")
    age_folders(pipeline_repo / "artifacts")
    assert run_verify(pipeline_repo)[0] == 0
    assert run_verify(pipeline_repo)[0] == 0
    (top / "notes.txt").write_text("stray\n")
    assert problems(run_verify(pipeline_repo)[1]) == {f"{MODEL_DIR}/notes.txt": "extra"}
    (top / "notes.txt").unlink()
    age_folders(pipeline_repo / "artifacts")
    assert run_verify(pipeline_repo, "--deep")[0] == 0
    (top / "new" / "deeper").mkdir(parents=True)
    (top / "new" / "deeper" / "x.bin").write_bytes(b"x")
    assert problems(run_verify(pipeline_repo)[1]) == {f"{MODEL_DIR}/new/deeper/x.bin": "extra"}


def test_verify_honours_dvcignore_for_extra_files(pipeline_repo: Path) -> None:
    (pipeline_repo / ".dvcignore").write_text("*.swp\n")
    (pipeline_repo / MODEL_DIR / ".model.joblib.swp").write_text("editor")
    (pipeline_repo / MODEL_DIR / "notes.txt").write_text("stray")
    code, doc = run_verify(pipeline_repo)
    assert code == 1
    assert problems(doc) == {f"{MODEL_DIR}/notes.txt": "extra"}


def test_verify_gives_the_same_verdicts_with_one_thread(pipeline_repo: Path) -> None:
    flip_byte(pipeline_repo / MODEL)
    one = run_verify(pipeline_repo, "--deep", "--jobs", "1")[1]
    many = run_verify(pipeline_repo, "--deep", "--jobs", "8")[1]
    assert problems(one) == problems(many) == {MODEL: "corrupted"}
    assert [(f["path"], f["actual"]) for f in one["files"]] == [
        (f["path"], f["actual"]) for f in many["files"]
    ]


def test_verify_reports_a_path_it_cannot_read_as_unreadable(pipeline_repo: Path) -> None:
    (pipeline_repo / TRAIN).unlink()
    (pipeline_repo / TRAIN).mkdir()  # a folder where the file should be
    code, doc = run_verify(pipeline_repo, TRAIN)
    assert code == 1
    assert problems(doc) == {TRAIN: "unreadable"}
    assert "directory" in by_path(doc)[TRAIN]["detail"].lower()


def test_verify_missing_directory_lists_each_file(pipeline_repo: Path) -> None:
    shutil.rmtree(pipeline_repo / MODEL_DIR)
    code, doc = run_verify(pipeline_repo, MODEL_DIR)
    assert code == 1
    assert set(problems(doc).values()) == {"missing"}
    assert MODEL in problems(doc)
    assert {f["artifact"] for f in doc["files"]} == {MODEL_DIR}


def age_files(top: Path, seconds: float = 60) -> None:
    """Move mtimes into the past: the state never vouches for files changed seconds ago."""
    for path in top.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_verify_trusts_unchanged_files_unless_deep(pipeline_repo: Path) -> None:
    age_files(pipeline_repo / "artifacts")
    assert run_verify(pipeline_repo)[0] == 0
    # Same size, same mtime, same inode: only --deep can see this change.
    model = pipeline_repo / MODEL
    st = model.stat()
    with model.open("r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    code, doc = run_verify(pipeline_repo)
    assert code == 0
    assert doc["summary"]["skipped_unchanged"] == doc["summary"]["files"]
    assert "trusted from the hash state" in doc["summary"]["method"]
    code, doc = run_verify(pipeline_repo, "--deep")
    assert code == 1
    assert problems(doc) == {MODEL: "corrupted"}


def test_verify_rehashes_a_file_whose_mtime_changed(pipeline_repo: Path) -> None:
    assert run_verify(pipeline_repo)[0] == 0
    flip_byte(pipeline_repo / TRAIN)  # a normal write moves the mtime
    code, doc = run_verify(pipeline_repo)
    assert code == 1 and problems(doc) == {TRAIN: "corrupted"}
    assert by_path(doc)[TRAIN]["skipped"] is False


def test_verify_reports_a_preserved_file_as_preserved_not_corrupted(pipeline_repo: Path) -> None:
    # The pipeline's settings preserve the curated reference file.
    with (pipeline_repo / REFERENCE).open("a") as fh:
        fh.write("curated,1\n")
    code, doc = run_verify(pipeline_repo)
    assert code == 0
    assert by_path(doc)[REFERENCE]["state"] == "preserved"
    assert doc["summary"]["preserved"] == 1
    env = {"ARTIFACTCTL_PRESERVE": "artifacts/nothing/*"}
    result = invoke(pipeline_repo, "verify", "--json", env=env)
    assert result.exit_code == 1
    assert problems(json.loads(result.stdout)) == {REFERENCE: "corrupted"}


def test_verify_cache_finds_a_corrupted_cache_object(pipeline_repo: Path) -> None:
    outs = {o.path: o for o in tracked_outs(pipeline_repo)}
    cache = pipeline_repo / ".dvc" / "cache"
    oid = outs[TRAIN].md5
    obj = cache_object(cache, oid)
    obj.chmod(0o644)
    flip_byte(obj)
    code, doc = run_verify(pipeline_repo)
    assert code == 0  # the workspace itself is intact
    code, doc = run_verify(pipeline_repo, "--cache")
    assert code == 1
    rel = obj.relative_to(pipeline_repo).as_posix()
    assert problems(doc) == {rel: "corrupted"}
    got = by_path(doc)[rel]
    assert got["kind"] == "cache" and got["artifact"] == TRAIN
    assert got["expected"] == oid and got["actual"] == md5(obj)


def test_verify_cache_checks_dir_objects_and_reports_missing_objects(
    pipeline_repo: Path,
) -> None:
    outs = {o.path: o for o in tracked_outs(pipeline_repo)}
    cache = pipeline_repo / ".dvc" / "cache"
    dir_oid = outs[MODEL_DIR].md5
    code, doc = run_verify(pipeline_repo, "--cache", "--deep")
    assert code == 0
    dir_obj = cache_object(cache, dir_oid).relative_to(pipeline_repo).as_posix()
    assert by_path(doc)[dir_obj]["state"] == "ok"
    assert by_path(doc)[dir_obj]["expected"] == dir_oid.removesuffix(".dir")
    _, file_md5 = next(iter(read_manifest(cache, dir_oid) or []))
    cache_object(cache, file_md5).unlink()
    code, doc = run_verify(pipeline_repo, "--cache")
    assert code == 1
    missing = cache_object(cache, file_md5).relative_to(pipeline_repo).as_posix()
    assert problems(doc) == {missing: "missing"}


def test_verify_without_dir_manifest_checks_the_directory_hash(pipeline_repo: Path) -> None:
    outs = {o.path: o for o in tracked_outs(pipeline_repo)}
    cache_object(pipeline_repo / ".dvc" / "cache", outs[MODEL_DIR].md5).unlink()
    code, doc = run_verify(pipeline_repo, MODEL_DIR)
    assert code == 0
    assert by_path(doc)[MODEL_DIR]["actual"] == outs[MODEL_DIR].md5
    assert doc["notes"] and "not in the local cache" in doc["notes"][0]
    flip_byte(pipeline_repo / MODEL)
    code, doc = run_verify(pipeline_repo, MODEL_DIR)
    assert code == 1 and problems(doc) == {MODEL_DIR: "corrupted"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_test_run(repo: Path, name: str, files: dict[str, bytes]) -> Path:
    """A test run as the run.json contract in layout.py describes it."""
    run = repo / "artifacts" / "tests" / name
    for rel, data in files.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(data)
    doc = {
        "schema": "artifactctl.run/1",
        "name": name,
        "mode": "test",
        "created": "2026-01-01T00:00:00Z",
        "git_commit": None,
        "command": "artifactctl run",
        "params": {},
        "files": {rel: {"sha256": sha(data), "size": len(data)} for rel, data in files.items()},
    }
    (run / "run.json").write_text(json.dumps(doc))
    return run


def make_saved_run(base: Path, run_id: str, files: dict[str, bytes]) -> Path:
    """A saved run as the manifest.json contract in layout.py describes it."""
    run = base / "runs" / run_id
    run.mkdir(parents=True)
    for name, data in files.items():
        (run / name).write_bytes(data)
    doc = {
        "schema": "artifactctl.saved_run/1",
        "run_id": run_id,
        "files": {n: {"sha256": sha(d), "size": len(d)} for n, d in files.items()},
    }
    (run / "manifest.json").write_text(json.dumps(doc))
    return run


def test_verify_checks_test_runs_and_saved_runs_against_their_manifests(
    pipeline_repo: Path,
) -> None:
    run = make_test_run(
        pipeline_repo,
        "smoke",
        {"models/candidates/v2-006/model.joblib": b"m" * 5000, "experiments/v2-006/m.json": b"{}"},
    )
    (run / ".keep").write_text("")
    saved = make_saved_run(run, "r-1", {"model.joblib": b"x" * 100, "metrics.json": b"{}"})
    prod_saved = make_saved_run(pipeline_repo / "artifacts", "r-2", {"metadata.json": b"{}"})
    code, doc = run_verify(pipeline_repo)
    assert code == 0, problems(doc)
    kinds = {f["path"]: f["kind"] for f in doc["files"]}
    assert kinds["artifacts/tests/smoke/models/candidates/v2-006/model.joblib"] == "test_run"
    assert kinds["artifacts/tests/smoke/runs/r-1/model.joblib"] == "saved_run"
    assert kinds["artifacts/runs/r-2/metadata.json"] == "saved_run"
    assert doc["summary"]["runs"] == 3

    flip_byte(run / "models/candidates/v2-006/model.joblib")
    (saved / "metrics.json").unlink()
    (prod_saved / "stray.txt").write_text("x")
    code, doc = run_verify(pipeline_repo)
    assert code == 1
    assert problems(doc) == {
        "artifacts/tests/smoke/models/candidates/v2-006/model.joblib": "corrupted",
        "artifacts/tests/smoke/runs/r-1/metrics.json": "missing",
        "artifacts/runs/r-2/stray.txt": "extra",
    }
    got = by_path(doc)["artifacts/tests/smoke/models/candidates/v2-006/model.joblib"]
    assert got["algorithm"] == "sha256" and got["expected"] == sha(b"m" * 5000)
    assert got["recorded_in"] == "artifacts/tests/smoke/run.json"
    code, doc = run_verify(pipeline_repo, "--no-tests")
    assert code == 0 and doc["summary"]["runs"] == 0


def test_verify_skips_a_test_run_that_has_not_finished(pipeline_repo: Path) -> None:
    run = make_test_run(pipeline_repo, "busy", {"a.txt": b"a"})
    doc = json.loads((run / "run.json").read_text())
    doc.update(status="running", files={})  # what the runner writes before the stages
    (run / "run.json").write_text(json.dumps(doc))
    code, doc = run_verify(pipeline_repo)
    assert code == 0
    assert not any(f["path"].startswith("artifacts/tests/busy/") for f in doc["files"])
    assert any("artifacts/tests/busy" in n and "not verified" in n for n in doc["notes"])


def test_verify_reports_an_unreadable_run_manifest(pipeline_repo: Path) -> None:
    run = make_test_run(pipeline_repo, "broken", {"a.txt": b"a"})
    (run / "run.json").write_text("{not json")
    code, doc = run_verify(pipeline_repo, "artifacts/tests/broken")
    assert code == 1
    assert problems(doc) == {"artifacts/tests/broken/run.json": "unreadable"}


def test_verify_limits_to_given_paths(pipeline_repo: Path) -> None:
    flip_byte(pipeline_repo / TRAIN)
    code, doc = run_verify(pipeline_repo, "artifacts/models")
    assert code == 0
    assert {f["artifact"] for f in doc["files"]} == {
        "artifacts/models/baseline/v2-001",
        "artifacts/models/candidates/v2-002",
        "artifacts/models/candidates/v2-006",
    }
    code, doc = run_verify(pipeline_repo, TRAIN)
    assert code == 1 and set(by_path(doc)) == {TRAIN}
    flip_byte(pipeline_repo / MODEL)
    code, doc = run_verify(pipeline_repo, MODEL)  # one file inside a tracked folder
    assert code == 1 and set(by_path(doc)) == {MODEL}


def test_verify_exit_codes_for_bad_input_and_no_repository(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    proc = artifactctl(pipeline_repo, "verify", "artifacts/nothing-here")
    assert proc.returncode == 2
    assert "no DVC-tracked artifact or run there" in proc.stderr
    outside = tmp_path / "plain"
    outside.mkdir()
    proc = artifactctl(outside, "verify")
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr


def test_verify_table_lists_problems_and_a_summary_line(pipeline_repo: Path) -> None:
    result = invoke(pipeline_repo, "verify")
    assert result.exit_code == 0
    assert "all ok" in result.stdout and "MB/s" in result.stdout
    assert "problems" not in result.stdout  # no table when nothing is wrong
    result = invoke(pipeline_repo, "verify", "--all", "--deep")
    assert TRAIN in result.stdout and "deep: every file re-hashed" in result.stdout


def test_hash_state_never_records_a_file_changed_seconds_ago(tmp_path: Path) -> None:
    from artifactctl.hashing.many import hash_many
    from artifactctl.hashing.state import HashState

    path = tmp_path / "fresh.bin"
    path.write_bytes(b"a" * 5000)
    state = HashState(tmp_path / "state.json")
    assert hash_many([(path, "fresh.bin")], state=state)[0].digest == md5(path)
    assert state.get("fresh.bin", path.stat()) is None  # racy: re-hashed next time
    age_files(tmp_path)
    hash_many([(path, "fresh.bin")], state=state)
    assert state.get("fresh.bin", path.stat()) == md5(path)
    again = hash_many([(path, "fresh.bin")], state=state)[0]
    assert again.from_state and again.digest == md5(path)


@pytest.mark.slow
def test_verify_json_stdout_is_only_json_from_the_console_script(pipeline_repo: Path) -> None:
    flip_byte(pipeline_repo / TRAIN)
    proc = artifactctl(pipeline_repo, "verify", "--json", "--cache")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert problems(doc) == {TRAIN: "corrupted"}
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_the_console_script_names_one_missing_file_among_thousands(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    top = "artifacts/many"
    n = 2100
    for i in range(n):
        path = repo / top / f"d{i % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + i % 50))
    dvc(repo, "add", "-q", top)
    first = artifactctl(repo, "verify", "--deep", top)
    assert first.returncode == 0, first.stderr
    assert "all ok" in first.stdout
    (repo / top / "d1" / "f00011.bin").unlink()
    again = artifactctl(repo, "verify", "--deep", "--json", top)
    assert again.returncode == 1
    doc = json.loads(again.stdout)
    assert problems(doc) == {f"{top}/d1/f00011.bin": "missing"}
    assert doc["summary"]["ok"] == n - 1


def test_extra_files_are_what_the_walk_finds_beyond_the_record(tmp_path: Path) -> None:
    from artifactctl.dvc.tracked import TrackedOut
    from artifactctl.project import find_repo
    from artifactctl.verify.extras import find_extras

    for name in (".dvc", ".git"):
        (tmp_path / name).mkdir()
    top = tmp_path / "top"
    recorded = [f"d{i % 3}/sub{i % 2}/f{i}.bin" for i in range(30)] + ["top.txt", "gone/x"]
    for rel in recorded[:-1]:
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(b"x")
    # new files beside recorded ones, a new folder, a recorded folder turned into a file,
    # symlinks to a file (an extra file) and to a folder (not followed)
    (top / "d0" / "new.bin").write_bytes(b"n")
    (top / "d1" / "sub0" / "new2.bin").write_bytes(b"n")
    (top / "fresh" / "deeper").mkdir(parents=True)
    (top / "fresh" / "deeper" / "a").write_bytes(b"a")
    shutil.rmtree(top / "d2" / "sub1")
    (top / "d2" / "sub1").write_bytes(b"now a file")
    os.symlink(top / "top.txt", top / "d0" / "link-to-file")
    os.symlink(top / "fresh", top / "d0" / "link-to-folder")
    out = TrackedOut("top", "0" * 32 + ".dir", None, None, True, "top.dvc", None)
    files = {f"top/{rel}": "0" * 32 for rel in recorded}
    extras = find_extras(find_repo(tmp_path), [out], {"top": files}, [])
    assert sorted(c.path for c in extras) == [
        "top/d0/link-to-file",
        "top/d0/new.bin",
        "top/d1/sub0/new2.bin",
        "top/d2/sub1",
        "top/fresh/deeper/a",
    ]
    assert {(c.state, c.kind, c.artifact, c.recorded_in) for c in extras} == {
        ("extra", "workspace", "top", "top.dvc")
    }


def test_status_and_verify_agree_on_a_preserved_locally_edited_file(pipeline_repo: Path) -> None:
    with (pipeline_repo / REFERENCE).open("a") as fh:
        fh.write("curated,1\n")
    status = invoke(pipeline_repo, "status", "--json")
    assert status.exit_code == 0, status.stdout
    states = {a["path"]: a["state"] for a in json.loads(status.stdout)["artifacts"]}
    assert states[REFERENCE] == "preserved"
    assert run_verify(pipeline_repo)[0] == 0
    env = {"ARTIFACTCTL_PRESERVE": "artifacts/nothing/*"}
    assert invoke(pipeline_repo, "status", "--json", env=env).exit_code == 1
    assert invoke(pipeline_repo, "verify", "--json", env=env).exit_code == 1
