"""`artifactctl serve` while the repository changes or is tampered with, with a token, and
with a 1 GiB file: each test has its own copy of the reference repository and server."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from servesupport import Server, reference_repo, serving
from support import artifactctl, init_repo

pytestmark = pytest.mark.slow

PROD = "artifacts/models/production"
CURRENT = f"{PROD}/champion_current"


def ledger_files(repo: Path, exp_id: str) -> dict[str, str]:
    events = [json.loads(line) for line in (repo / PROD / "ledger.jsonl").read_text().splitlines()]
    return next(
        e["files"] for e in reversed(events) if e["event"] == "promote" and e["id"] == exp_id
    )


def cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


def tamper(path: Path) -> None:
    path.chmod(0o644)
    with open(path, "ab") as fh:
        fh.write(b"tampered")


def refused(server: Server, path: str, file: str) -> None:
    got = server.request(path)
    assert got.status == 409, (path, got.status, got.body[:300])
    doc = got.json()
    assert doc["schema"] == "artifactctl.error/1" and doc["file"] == file
    assert file in doc["error"] and doc["hint"]
    assert b"tampered" not in got.body


@pytest.fixture
def champion_v2_006(built_pipeline: Path, tmp_path: Path) -> Path:
    return reference_repo(built_pipeline, tmp_path, ("v2-006",))


# ------------------------------------------------------------------- verification


def test_a_tampered_champion_copy_is_rebuilt_and_the_verified_bytes_served(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    md5 = ledger_files(repo, "v2-006")["model.joblib"]
    with serving(repo, tmp_path / "server.log") as server:
        tamper(repo / CURRENT / "model.joblib")
        got = server.request("/api/champion/files/model.joblib")
        assert got.status == 200
        assert hashlib.md5(got.body).hexdigest() == md5 and got.headers["etag"] == f'"{md5}"'
        # rebuilt from the ledger, as load_champion() would use it
        assert hashlib.md5((repo / CURRENT / "model.joblib").read_bytes()).hexdigest() == md5
        (repo / CURRENT / "metadata.json").unlink()  # a missing copy is rebuilt as well
        assert server.request("/api/champion/files/metadata.json").status == 200


def test_champion_bytes_that_cannot_be_verified_are_409_naming_the_file(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    md5 = ledger_files(repo, "v2-006")["model.joblib"]
    with serving(repo, tmp_path / "server.log") as server:
        for copy in (
            repo / CURRENT / "model.joblib",
            repo / "artifacts/models/candidates/v2-006/model.joblib",
            cache_object(repo, md5),
        ):
            tamper(copy)
        refused(server, "/api/champion/files/model.joblib", f"{CURRENT}/model.joblib")
        head = server.request("/api/champion/files/model.joblib", method="HEAD")
        assert head.status == 409
        # the other files of the champion are still served
        assert server.request("/api/champion/files/metadata.json").status == 200


def test_tampered_experiment_and_run_files_are_409_naming_the_file(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    import artifactctl as api

    repo = champion_v2_006
    api.save_run(
        {"w": 1}, {"s": 2}, metrics={"rmse": 1.0}, run_id="r1", mode="production", start=repo
    )
    with serving(repo, tmp_path / "server.log") as server:
        rel = "artifacts/experiments/v2-001/predictions.csv"
        tamper(repo / rel)
        refused(server, "/api/experiments/v2-001/files/predictions.csv", rel)
        model = "artifacts/models/baseline/v2-001/model.joblib"
        tamper(repo / model)
        refused(server, "/api/experiments/v2-001/files/model.joblib", model)
        run_model = "artifacts/runs/r1/model.joblib"
        tamper(repo / run_model)
        refused(server, "/api/runs/r1/files/model.joblib", run_model)
        state = {f["name"]: f["state"] for f in server.get_json("/api/runs/r1")["files"]}
        assert state["model.joblib"] == "modified" and state["metrics.json"] == "ok"


def test_symlinks_out_of_their_folder_are_404_and_links_into_the_dvc_cache_are_served(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    outside = tmp_path / "outside"
    outside.mkdir()
    with serving(repo, tmp_path / "server.log") as server:
        # identical bytes behind the link: refused for where they are, not for what they hold
        for rel, url in (
            (f"{CURRENT}/metadata.json", "/api/champion/files/metadata.json"),
            (
                "artifacts/experiments/v2-001/metrics.json",
                "/api/experiments/v2-001/files/metrics.json",
            ),
        ):
            target = outside / Path(rel).name
            target.write_bytes((repo / rel).read_bytes())
            (repo / rel).unlink()
            (repo / rel).symlink_to(target)
            got = server.request(url)
            assert got.status == 404, (url, got.status, got.body[:300])
        # a run folder that is a symlink to a run elsewhere is not a run of this repository
        import artifactctl as api

        api.save_run({"w": 1}, {}, run_id="r2", mode="production", start=repo)
        (outside / "r2").mkdir()
        for p in (repo / "artifacts/runs/r2").iterdir():
            (outside / "r2" / p.name).write_bytes(p.read_bytes())
        (repo / "artifacts/runs/r2-link").symlink_to(outside / "r2")
        assert server.request("/api/runs/r2-link").status == 404
        assert server.request("/api/runs/r2-link/files/model.joblib").status == 404
        # DVC's symlink cache type links workspace files to cache objects: those are served
        pred = repo / "artifacts/experiments/v2-002/predictions.csv"
        obj = cache_object(repo, hashlib.md5(pred.read_bytes()).hexdigest())
        assert obj.is_file()
        pred.unlink()
        pred.symlink_to(obj)
        got = server.request("/api/experiments/v2-002/files/predictions.csv")
        assert got.status == 200 and got.body == obj.read_bytes()


def test_a_fifo_in_place_of_a_file_is_never_opened(champion_v2_006: Path, tmp_path: Path) -> None:
    repo = champion_v2_006
    rel = "artifacts/experiments/v2-001/summary.json"
    (repo / rel).unlink()
    os.mkfifo(repo / rel)
    with serving(repo, tmp_path / "server.log") as server:
        got = server.request("/api/experiments/v2-001/files/summary.json")
        assert got.status == 404 and "not a regular file" in got.json()["error"]


def test_an_archived_experiment_is_shown_and_served_from_the_archive(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    with serving(repo, tmp_path / "server.log") as server:
        before = server.request("/api/experiments/v2-001/files/model.joblib").body
        proc = artifactctl(repo, "archive", "v2-001", "--reason", "superseded")
        assert proc.returncode == 0, proc.stderr
        doc = server.get_json("/api/experiments/v2-001")
        assert doc["state"] == "archived"
        assert {d["path"] for d in doc["downloads"]} >= {
            "artifacts/archive/v2-001/model/model.joblib",
            "artifacts/archive/v2-001/experiment/predictions.csv",
        }
        got = server.request("/api/experiments/v2-001/files/model.joblib")
        assert got.status == 200 and got.body == before
        tamper(repo / "artifacts/archive/v2-001/experiment/predictions.csv")
        refused(
            server,
            "/api/experiments/v2-001/files/predictions.csv",
            "artifacts/archive/v2-001/experiment/predictions.csv",
        )


# -------------------------------------------------------------------------- token


def test_a_token_is_required_on_every_request_when_set(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    env = {"ARTIFACTCTL_SERVE_TOKEN": "s3cret-token"}
    with serving(repo, tmp_path / "env.log", env=env) as server:
        for path in ("/api/health", "/", "/docs", "/api/champion/files/model.joblib", "/nope"):
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": "Basic s3cret-token"},
                {"Authorization": "Bearer s3cret-token-and-more"},
            ):
                got = server.request(path, headers=headers)
                assert got.status == 401, (path, headers)
                assert got.headers["www-authenticate"].startswith("Bearer")
                assert got.json()["schema"] == "artifactctl.error/1"
        ok = {"Authorization": "Bearer s3cret-token"}
        assert server.request("/api/health", headers=ok).status == 200
        assert server.request("/api/champion/files/model.joblib", headers=ok).status == 200
        assert server.request("/", headers=ok).status == 200
    with serving(repo, tmp_path / "option.log", "--token", "other") as server:
        assert server.request("/api/champion").status == 401
        assert (
            server.request("/api/champion", headers={"Authorization": "Bearer other"}).status == 200
        )


# ------------------------------------------------------------ a promote meanwhile


def test_answers_follow_a_promote_made_while_the_server_runs(
    champion_v2_006: Path, tmp_path: Path
) -> None:
    repo = champion_v2_006
    old = ledger_files(repo, "v2-006")
    with serving(repo, tmp_path / "server.log") as server:
        assert server.get_json("/api/champion")["id"] == "v2-006"
        assert server.request("/api/champion/previous").status == 404
        seen: list[tuple] = []
        stop = threading.Event()

        def poll() -> None:
            for _ in range(5000):  # bounded; stops when the promote is done
                if stop.is_set():
                    return
                doc = server.request("/api/champion")
                model = server.request("/api/champion/files/model.joblib")
                seen.append((doc.status, doc.json(), model.status, model.body, model.headers))

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            proc = artifactctl(repo, "promote", "v2-002")
        finally:
            stop.set()
            poller.join(timeout=120)
        assert proc.returncode == 0, proc.stderr
        new = ledger_files(repo, "v2-002")
        assert seen
        for status, doc, model_status, body, headers in seen:
            assert status == 200 and doc["id"] in ("v2-006", "v2-002")
            files = {f["name"]: f["md5"] for f in doc["files"]}
            assert files == (old if doc["id"] == "v2-006" else new)  # never a mixed state
            assert model_status in (200, 503), model_status  # 503: the copies were locked
            if model_status == 200:
                md5 = hashlib.md5(body).hexdigest()
                assert md5 in (old["model.joblib"], new["model.joblib"])
                assert headers["etag"] == f'"{md5}"'
        champ = server.get_json("/api/champion")
        assert champ["id"] == "v2-002" and champ["promoted"]["replaced"] == "v2-006"
        assert server.get_json("/api/champion/previous")["id"] == "v2-006"
        body = server.request("/api/champion/files/model.joblib").body
        assert hashlib.md5(body).hexdigest() == new["model.joblib"]
        roles = {e["id"]: e["role"] for e in server.get_json("/api/experiments")["experiments"]}
        assert roles["v2-002"] == "champion" and roles["v2-006"] == "previous"
        artifactctl(repo, "rollback", "--reason", "test")
        assert server.get_json("/api/champion")["id"] == "v2-006"
        events = server.get_json("/api/history")["events"]
        assert [e["event"] for e in events] == ["promote", "promote", "rollback"]


# ----------------------------------------------------------------- 1 GiB, bounded


def test_a_1_gib_download_streams_with_the_server_under_150_mib(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    run = repo / "artifacts/tests/big"
    run.mkdir(parents=True)
    size = 1 << 30
    with open(run / "blob.bin", "wb") as fh:
        fh.truncate(size)  # sparse: a gibibyte of zeros that takes no disk space
    zeros = bytes(1 << 20)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    for _ in range(size >> 20):
        sha.update(zeros)
        md5.update(zeros)
    manifest = {
        "schema": "artifactctl.run/1",
        "name": "big",
        "mode": "test",
        "files": {"blob.bin": {"sha256": sha.hexdigest(), "size": size}},
    }
    (run / "run.json").write_text(json.dumps(manifest))
    with serving(repo, tmp_path / "server.log") as server:
        import http.client

        conn = http.client.HTTPConnection(server.host, server.port, timeout=300)
        conn.request("GET", "/api/runs/big/files/blob.bin")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-length") == str(size)
        got, received = hashlib.md5(), 0
        while chunk := resp.read(1 << 20):
            got.update(chunk)
            received += len(chunk)
        conn.close()
        assert received == size and got.hexdigest() == md5.hexdigest()
        assert resp.getheader("etag") == f'"{md5.hexdigest()}"'
        status = Path(f"/proc/{server.proc.pid}/status").read_text()
        peak_kib = int(
            next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
        )
        assert peak_kib < 150 * 1024, f"server peak RSS {peak_kib / 1024:.0f} MiB"
