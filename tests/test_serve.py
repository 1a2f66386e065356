"""`artifactctl serve`: every endpoint of a real server on 127.0.0.1, in a real reference repo.

One server for the module (read-only requests): the reference pipeline reproduced
with DVC, v2-006 then v2-002 promoted (so there is a champion and a previous
one), and a run saved with ``save_run``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from servesupport import Server, reference_repo, serving
from support import artifactctl

pytestmark = pytest.mark.slow

PROD = "artifacts/models/production"
CONTRACT = (
    "/api/health",
    "/api/status",
    "/api/champion",
    "/api/champion/previous",
    "/api/champion/files/{name}",
    "/api/experiments",
    "/api/experiments/{exp_id}",
    "/api/experiments/{exp_id}/files/{name}",
    "/api/history",
    "/api/promotion-tests/{candidate}/{baseline}",
    "/api/runs",
    "/api/runs/{run_id}",
    "/api/runs/{run_id}/files/{name}",
    "/",
)


@pytest.fixture(scope="module")
def served(built_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import artifactctl as api

    base = tmp_path_factory.mktemp("served")
    repo = reference_repo(built_pipeline, base, ("v2-006", "v2-002"))
    api.save_run(
        {"weights": [1.0, 2.0]},
        {"scale": 3.0},
        metrics={"rmse": 0.5},
        run_id="run-1",
        mode="production",
        start=repo,
    )
    (base / "secret.txt").write_text("outside the repository\n")
    with serving(repo, base / "server.log") as server:
        server.repo = repo  # type: ignore[attr-defined]
        yield server


def repo_of(server: Server) -> Path:
    return server.repo  # type: ignore[attr-defined]


def cli_json(repo: Path, *args: str) -> dict:
    proc = artifactctl(repo, *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def ledger_files(repo: Path, exp_id: str) -> dict[str, str]:
    events = [json.loads(line) for line in (repo / PROD / "ledger.jsonl").read_text().splitlines()]
    return next(
        e["files"] for e in reversed(events) if e["event"] == "promote" and e["id"] == exp_id
    )


# ----------------------------------------------------------------- JSON documents


def test_health_and_openapi_list_every_endpoint_of_the_contract(served: Server) -> None:
    assert served.get_json("/api/health") == {
        "schema": "artifactctl.health/1",
        "ok": True,
        "version": __import__("artifactctl").__version__,
    }
    paths = set(served.get_json("/openapi.json")["paths"])
    assert set(CONTRACT) <= paths
    docs = served.request("/docs")
    assert docs.status == 200 and b"openapi.json" in docs.body


def test_status_is_what_status_json_says(served: Server) -> None:
    doc = served.get_json("/api/status")
    assert doc == cli_json(repo_of(served), "status")
    assert doc["schema"] == "artifactctl.status/1" and doc["ok"] is True


def test_list_show_and_history_are_the_cli_documents_with_a_schema(served: Server) -> None:
    repo = repo_of(served)
    listing = served.get_json("/api/experiments")
    assert listing == {"schema": "artifactctl.list/1", **cli_json(repo, "list")}
    assert [e["id"] for e in listing["experiments"]] == ["v2-001", "v2-002", "v2-006"]
    roles = {e["id"]: e["role"] for e in listing["experiments"]}
    assert roles == {"v2-001": "", "v2-002": "champion", "v2-006": "previous"}
    phase = served.get_json("/api/experiments?phase=baseline")["experiments"]
    assert [e["id"] for e in phase] == ["v2-001"]

    shown = served.get_json("/api/experiments/v2-006")
    downloads = shown.pop("downloads")
    assert shown == {"schema": "artifactctl.show/1", **cli_json(repo, "show", "v2-006")}
    names = {d["name"] for d in downloads}
    assert {"model.joblib", "predictions.csv", "metrics.json", "plots/residuals.csv"} <= names
    for d in downloads:
        assert d["md5"] == hashlib.md5((repo / d["path"]).read_bytes()).hexdigest()

    history = served.get_json("/api/history")
    assert history == {"schema": "artifactctl.history/1", **cli_json(repo, "history")}
    assert [(e["event"], e["id"]) for e in history["events"]] == [
        ("promote", "v2-006"),
        ("promote", "v2-002"),
    ]


def test_champion_and_previous_name_id_phase_metrics_and_files(served: Server) -> None:
    repo = repo_of(served)
    champ = served.get_json("/api/champion")
    assert champ["schema"] == "artifactctl.champion/1"
    assert (champ["id"], champ["phase"], champ["model"]) == ("v2-002", "candidates", "ridge")
    metrics = json.loads((repo / "artifacts/experiments/v2-002/metrics.json").read_text())
    assert champ["metrics"] == metrics
    assert {f["name"]: f["md5"] for f in champ["files"]} == ledger_files(repo, "v2-002")
    assert champ["promoted"]["against"] == "v2-006" and champ["promoted"]["forced"] is False
    prev = served.get_json("/api/champion/previous")
    assert (prev["id"], prev["slot"]) == ("v2-006", "previous")
    assert {f["name"]: f["md5"] for f in prev["files"]} == ledger_files(repo, "v2-006")


def test_promotion_test_is_the_record_written_by_promote(served: Server) -> None:
    repo = repo_of(served)
    doc = served.get_json("/api/promotion-tests/v2-002/v2-006")
    path = repo / "artifacts/experiments/promotion_tests/v2-002_vs_v2-006.json"
    assert doc == json.loads(path.read_text())
    assert doc["schema"] == "artifactctl.promotion_test/1" and doc["passed"] is True


def test_runs_list_paths_checksum_state_and_metrics(served: Server) -> None:
    runs = served.get_json("/api/runs")
    assert runs["schema"] == "artifactctl.runs/1"
    [run] = runs["runs"]
    assert (run["run_id"], run["kind"], run["ok"]) == ("run-1", "saved", True)
    assert run["path"] == "artifacts/runs/run-1" and run["metrics"] == {"rmse": 0.5}
    one = served.get_json("/api/runs/run-1")
    assert one["schema"] == "artifactctl.run_info/1"
    assert {f["name"]: f["state"] for f in one["files"]} == {
        "feature_metadata.json": "ok",
        "metrics.json": "ok",
        "model.joblib": "ok",
        "preprocessing.joblib": "ok",
    }
    assert one["files"][0]["url"].startswith("/api/runs/run-1/files/")


# ---------------------------------------------------------------------- downloads


def test_champion_model_download_streams_the_verified_bytes(served: Server) -> None:
    repo = repo_of(served)
    expected = (repo / PROD / "champion_current/model.joblib").read_bytes()
    md5 = ledger_files(repo, "v2-002")["model.joblib"]
    got = served.request("/api/champion/files/model.joblib")
    assert got.status == 200 and got.body == expected
    assert hashlib.md5(got.body).hexdigest() == md5
    assert got.headers["etag"] == f'"{md5}"'
    assert got.headers["content-length"] == str(len(expected))
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-type"] == "application/octet-stream"
    head = served.request("/api/champion/files/model.joblib", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(expected))
    assert head.headers["etag"] == got.headers["etag"]
    prev = served.request("/api/champion/previous/files/model.joblib")
    assert hashlib.md5(prev.body).hexdigest() == ledger_files(repo, "v2-006")["model.joblib"]


def test_range_requests_answer_the_asked_bytes(served: Server) -> None:
    data = (repo_of(served) / PROD / "champion_current/model.joblib").read_bytes()
    size = len(data)
    url = "/api/champion/files/model.joblib"
    part = served.request(url, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    assert part.headers["content-length"] == "10"
    tail = served.request(url, headers={"Range": "bytes=-7"})
    assert tail.status == 206 and tail.body == data[-7:]
    rest = served.request(url, headers={"Range": f"bytes={size - 3}-"})
    assert rest.status == 206 and rest.body == data[-3:]
    beyond = served.request(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    several = served.request(url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status == 200 and several.body == data
    etag = part.headers["etag"]
    stale = served.request(url, headers={"Range": "bytes=0-1", "If-Range": '"0000"'})
    assert stale.status == 200 and stale.body == data
    fresh = served.request(url, headers={"Range": "bytes=0-1", "If-Range": etag})
    assert fresh.status == 206 and fresh.body == data[:2]
    same = served.request(url, headers={"If-None-Match": etag})
    assert same.status == 304 and same.body == b""


def test_experiment_and_run_files_download_verified(served: Server) -> None:
    repo = repo_of(served)
    for name, rel in (
        ("predictions.csv", "artifacts/experiments/v2-001/predictions.csv"),
        ("plots/residuals.csv", "artifacts/experiments/v2-001/plots/residuals.csv"),
        ("model.joblib", "artifacts/models/baseline/v2-001/model.joblib"),
        ("model/model.joblib", "artifacts/models/baseline/v2-001/model.joblib"),
        ("experiment/metrics.json", "artifacts/experiments/v2-001/metrics.json"),
    ):
        got = served.request(f"/api/experiments/v2-001/files/{name}")
        assert got.status == 200, (name, got.body)
        assert got.body == (repo / rel).read_bytes()
        assert got.headers["etag"] == f'"{hashlib.md5(got.body).hexdigest()}"'
    run = served.request("/api/runs/run-1/files/model.joblib")
    assert run.status == 200
    assert run.body == (repo / "artifacts/runs/run-1/model.joblib").read_bytes()


# ------------------------------------------------------------- 404 and traversal


def assert_not_found(server: Server, path: str) -> None:
    got = server.request(path)
    assert got.status == 404, (path, got.status, got.body[:300])
    doc = got.json()
    assert doc["schema"] == "artifactctl.error/1" and doc["status"] == 404, path
    assert b"outside the repository" not in got.body and b"root:" not in got.body


@pytest.mark.parametrize(
    "path",
    [
        "/api/experiments/v2-999",
        "/api/experiments/v2-999/files/model.joblib",
        "/api/experiments/v2-001/files/nope.bin",
        "/api/experiments/v2-001/files/.gitignore",  # in the folder but not a DVC output
        "/api/champion/files/nope.joblib",
        "/api/champion/previous/files/nope.joblib",
        "/api/runs/nope",
        "/api/runs/nope/files/model.joblib",
        "/api/runs/run-1/files/manifest.json",  # not listed in its own manifest
        "/api/promotion-tests/v2-001/v2-002",
        "/api/nothing-here",
    ],
)
def test_unknown_ids_and_files_are_404_json(served: Server, path: str) -> None:
    assert_not_found(served, path)


TRAVERSALS = [
    "/api/champion/files/../../../../params.yaml",
    "/api/champion/files/..%2F..%2F..%2F..%2Fparams.yaml",
    "/api/champion/files/%2E%2E%2F%2E%2E%2Fchampion.json",
    "/api/champion/files/%2Fetc%2Fpasswd",
    "/api/champion/files//etc/passwd",
    "/api/champion/files/..%5C..%5Cparams.yaml",
    "/api/champion/files/model.joblib%00.txt",
    "/api/experiments/..%2F..%2Fparams.yaml",
    "/api/experiments/..",
    "/api/experiments/v2-001/files/..%2F..%2F..%2F..%2Fparams.yaml",
    "/api/experiments/v2-001/files/../../../params.yaml",
    "/api/experiments/v2-001/files/%2Fetc%2Fpasswd",
    "/api/experiments/v2-001/files/plots%2F..%2F..%2Fv2-002%2Fmetrics.json",
    "/api/experiments/v2-001/files/..%2F..%2F..%2F..%2F..%2Fsecret.txt",
    "/api/runs/..%2Fruns%2Frun-1",
    "/api/runs/run-1/files/..%2F..%2F..%2Fparams.yaml",
    "/api/runs/run-1/files/%2Fetc%2Fpasswd",
    "/api/runs/..%2F..%2F..%2Fsecret.txt/files/x",
    "/api/promotion-tests/..%2F..%2F..%2Fparams/x",
    "/api/promotion-tests/..%2Fpromotion_tests%2Fv2-002/v2-006",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_in_any_parameter_is_404(served: Server, path: str) -> None:
    assert_not_found(served, path)
