"""`artifactctl status`: every tracked artifact's state, on real repositories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import artifactctl, dvc, invoke

MODEL = "artifacts/models/candidates/v2-006/model.joblib"
MODEL_DIR = "artifacts/models/candidates/v2-006"
TRAIN = "artifacts/data/train.csv"


def states(repo: Path, *args: str) -> dict[str, str]:
    result = invoke(repo, "status", "--json", *args)
    doc = json.loads(result.stdout)
    return {a["path"]: a["state"] for a in doc["artifacts"]}


def test_status_is_all_ok_after_repro(pipeline_repo: Path) -> None:
    result = invoke(pipeline_repo, "status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["summary"]["total"] == doc["summary"]["ok"] == len(doc["artifacts"])
    kinds = {a["path"]: a["kind"] for a in doc["artifacts"]}
    assert kinds[TRAIN] == "data"
    assert kinds[MODEL_DIR] == "model"
    assert kinds["artifacts/experiments/v2-006/metrics.json"] == "metrics"
    assert kinds["artifacts/experiments/v2-006/plots/residuals.csv"] == "plot"
    assert kinds["artifacts/reference/healthy_cluster_avg.csv"] == "reference"
    exps = {a["path"]: a["experiment"] for a in doc["artifacts"]}
    assert exps[MODEL_DIR] == "v2-006"
    assert exps[TRAIN] is None


def test_status_reports_modified_file_in_tracked_directory(pipeline_repo: Path) -> None:
    model = pipeline_repo / MODEL
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    result = invoke(pipeline_repo, "status", "--json")
    assert result.exit_code == 1
    got = {a["path"]: a for a in json.loads(result.stdout)["artifacts"]}
    assert got[MODEL_DIR]["state"] == "modified"
    assert "1 changed" in got[MODEL_DIR]["detail"]
    assert got[TRAIN]["state"] == "ok"


def test_status_reports_extra_file_in_tracked_directory(pipeline_repo: Path) -> None:
    (pipeline_repo / MODEL_DIR / "notes.txt").write_text("stray\n")
    assert states(pipeline_repo)[MODEL_DIR] == "modified"


def test_status_reports_modified_and_missing_files(pipeline_repo: Path) -> None:
    (pipeline_repo / TRAIN).write_text("row_id,y\n0,1\n")
    shutil.rmtree(pipeline_repo / "artifacts/models/baseline/v2-001")
    got = states(pipeline_repo)
    assert got[TRAIN] == "modified"
    assert got["artifacts/models/baseline/v2-001"] == "missing"


def test_status_reports_objects_missing_from_the_cache(pipeline_repo: Path) -> None:
    shutil.rmtree(pipeline_repo / ".dvc" / "cache")
    got = states(pipeline_repo)
    assert got[TRAIN] == "not_in_cache"
    assert got[MODEL_DIR] == "not_in_cache"
    # metrics are not cached (cache: false), so the cache cannot lack them
    assert got["artifacts/experiments/v2-006/metrics.json"] == "ok"


def test_status_cloud_reports_unpushed_then_ok_after_push(pipeline_repo: Path) -> None:
    assert set(states(pipeline_repo, "--cloud").values()) == {"not_pushed", "ok"}
    dvc(pipeline_repo, "push", "-q")
    assert set(states(pipeline_repo, "--cloud").values()) == {"ok"}


def test_status_limits_to_given_paths(pipeline_repo: Path) -> None:
    got = states(pipeline_repo, "artifacts/models")
    assert set(got) == {
        "artifacts/models/baseline/v2-001",
        "artifacts/models/candidates/v2-002",
        "artifacts/models/candidates/v2-006",
    }


def test_paths_may_be_written_as_status_prints_them_relative_to_the_artifacts_root(
    pipeline_repo: Path,
) -> None:
    # status shows "models/baseline/v2-001/" under "artifacts/": typing it that way works
    assert states(pipeline_repo, "models") == states(pipeline_repo, "artifacts/models")
    verify = invoke(pipeline_repo, "verify", "models/candidates/v2-006", "--json")
    assert verify.exit_code == 0, verify.stderr
    assert {f["path"].split("/")[3] for f in json.loads(verify.stdout)["files"]} == {"v2-006"}
    # a path that exists relative to the working folder keeps its plain meaning
    (pipeline_repo / "models").mkdir()
    try:
        assert artifactctl(pipeline_repo, "status", "models").returncode == 2
    finally:
        (pipeline_repo / "models").rmdir()


def test_status_unknown_path_is_bad_input(pipeline_repo: Path) -> None:
    proc = artifactctl(pipeline_repo, "status", "artifacts/nothing-here")
    assert proc.returncode == 2
    assert "no DVC-tracked artifact there" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_table_has_a_summary_line(pipeline_repo: Path) -> None:
    result = invoke(pipeline_repo, "status")
    assert result.exit_code == 0
    assert "artifacts: " in result.stdout and "all ok" in result.stdout
    assert "models/candidates/v2-006/" in result.stdout


def test_one_object_gone_from_a_cache_folder_is_found_by_listing_or_by_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactctl.dvc import tracked

    oids = [f"ab{i:030x}" for i in range(40)] + ["cd" + "0" * 30 + ".dir", "ef" + "1" * 30]
    for oid in oids:
        path = tracked.cache_object(tmp_path, oid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(oid)
    tracked.cache_object(tmp_path, oids[3]).unlink()
    tracked.cache_object(tmp_path, oids[-1]).unlink()
    wanted = [*oids, "99" + "2" * 30]  # and one whose folder does not exist
    expected = {oids[3], oids[-1], "99" + "2" * 30}
    for list_at in (1, 32, 10_000):  # every folder listed; only the crowded one; none
        monkeypatch.setattr(tracked, "LIST_AT", list_at)
        assert tracked.objects_absent(tmp_path, wanted) == expected


def test_status_names_the_one_object_missing_from_a_crowded_cache_folder(
    pipeline_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactctl.dvc import tracked
    from artifactctl.project import find_repo

    monkeypatch.setattr(tracked, "LIST_AT", 1)  # list every cache folder, as at 200,000 files
    cache = find_repo(pipeline_repo).cache_dir
    md5 = next(o.md5 for o in tracked.tracked_outs(pipeline_repo) if o.path == TRAIN and o.md5)
    tracked.cache_object(cache, md5).unlink()
    got = states(pipeline_repo)
    assert got[TRAIN] == "not_in_cache"
    assert {state for path, state in got.items() if path != TRAIN} == {"ok"}
