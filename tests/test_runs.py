"""save_run / load_run / show-run: round trip, atomic layout, checksum-verified loading."""

from __future__ import annotations

import contextlib
import json
import pickle
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from support import init_repo, invoke

import artifactctl
from artifactctl.errors import IntegrityError, UsageError
from artifactctl.runs.saved import load_run, save_run


@pytest.fixture(scope="module")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_repo(tmp_path_factory.mktemp("runs-template") / "repo")


@pytest.fixture
def repo(empty_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(empty_template, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


def fitted() -> tuple[Ridge, StandardScaler, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    scaler = StandardScaler().fit(x)
    return Ridge().fit(scaler.transform(x), y), scaler, x


class Marker:
    """Unpickling this object creates ``path``: a visible side effect of loading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.path,))


def test_save_run_returns_json_safe_relative_summary(repo: Path) -> None:
    model, scaler, _ = fitted()
    info = save_run(
        model,
        preprocessors={"scaler": scaler},
        metrics={"rmse": np.float64(0.25), "n": np.int64(50), "bad": float("nan")},
        feature_metadata={"features": ["a", "b", "c"]},
        run_id="r1",
        mode="test",
        test_name="unit",
    )
    assert json.loads(json.dumps(info)) == info  # plain JSON types only
    assert info["run_id"] == "r1" and info["mode"] == "test"
    assert info["artifacts_path"] == "artifacts/tests/unit/runs/r1"
    assert info["model_path"] == "artifacts/tests/unit/runs/r1/model.joblib"
    assert info["preprocessing_path"] == "artifacts/tests/unit/runs/r1/preprocessing.joblib"
    assert info["model_type"] == "sklearn.linear_model._ridge.Ridge"
    assert info["metrics"] == {"rmse": 0.25, "n": 50, "bad": None}
    assert type(info["metrics"]["n"]) is int
    assert info["feature_count"] == 3
    folder = repo / info["artifacts_path"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "feature_metadata.json",
        "manifest.json",
        "metrics.json",
        "model.joblib",
        "preprocessing.joblib",
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["schema"] == "artifactctl.saved_run/1"
    assert set(manifest["files"]) == {
        "feature_metadata.json",
        "metrics.json",
        "model.joblib",
        "preprocessing.joblib",
    }
    for name, entry in manifest["files"].items():
        assert entry["size"] == (folder / name).stat().st_size
    # nothing left behind from the staging folder
    assert [p.name for p in folder.parent.iterdir()] == ["r1"]


def test_save_then_load_round_trip_predicts_the_same(repo: Path) -> None:
    model, scaler, x = fitted()
    info = artifactctl.save_run(
        model, preprocessors={"scaler": scaler}, metrics={"rmse": 0.1}, mode="production"
    )
    assert info["artifacts_path"].startswith("artifacts/runs/")
    run = artifactctl.load_run(info["run_id"])
    got = run.model.predict(run.preprocessors["scaler"].transform(x))
    assert np.allclose(got, model.predict(scaler.transform(x)))
    assert run.metrics == {"rmse": 0.1}
    assert run.metadata["run_id"] == info["run_id"]
    # by folder path too
    assert artifactctl.load_run(repo / info["artifacts_path"]).run_id == info["run_id"]


def test_default_run_id_shape(repo: Path) -> None:
    info = save_run({"k": 1}, mode="test", test_name="ids")
    import re

    assert re.fullmatch(r"\d{8}_\d{6}_[0-9a-f]{8}", info["run_id"])


def test_production_refuses_to_replace_a_saved_run_without_force(repo: Path) -> None:
    save_run({"v": 1}, run_id="fixed", mode="production")
    with pytest.raises(UsageError):
        save_run({"v": 2}, run_id="fixed", mode="production")
    assert load_run("fixed").model == {"v": 1}
    save_run({"v": 3}, run_id="fixed", mode="production", force=True)
    assert load_run("fixed").model == {"v": 3}


def test_test_mode_replaces_a_saved_run(repo: Path) -> None:
    save_run({"v": 1}, run_id="again", mode="test", test_name="t")
    save_run({"v": 2}, run_id="again", mode="test", test_name="t")
    assert load_run("again").model == {"v": 2}
    assert [p.name for p in (repo / "artifacts/tests/t/runs").iterdir()] == ["again"]


def test_tampered_pickle_is_never_unpickled(repo: Path, tmp_path: Path) -> None:
    info = save_run({"v": 1}, run_id="victim", mode="production")
    folder = repo / info["artifacts_path"]
    marker = tmp_path / "unpickled.marker"
    joblib.dump(Marker(marker), folder / "model.joblib")
    with pytest.raises(IntegrityError, match="not loaded"):
        load_run("victim")
    assert not marker.exists()
    # the same file with a matching manifest would have run the side effect:
    # the test above can fail.
    pickle.loads(pickle.dumps(Marker(marker)))
    assert marker.exists()


def test_tampered_pickle_with_the_same_size_is_refused(repo: Path, tmp_path: Path) -> None:
    info = save_run({"payload": "x" * 200}, run_id="same-size", mode="test", test_name="t")
    model = repo / info["model_path"]
    data = bytearray(model.read_bytes())
    data[-5] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_run("same-size")


@pytest.mark.parametrize("damage", ["truncate", "delete", "swap", "unlisted"])
def test_damaged_run_is_refused_before_loading(repo: Path, tmp_path: Path, damage: str) -> None:
    marker = tmp_path / "marker"
    info = save_run(Marker(marker), preprocessors={"p": 1}, run_id="d", mode="production")
    assert not marker.exists()  # pickling it has no side effect; unpickling would
    folder = repo / info["artifacts_path"]
    model, prep = folder / "model.joblib", folder / "preprocessing.joblib"
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[:10])
    elif damage == "delete":
        prep.unlink()
    elif damage == "swap":
        a, b = model.read_bytes(), prep.read_bytes()
        model.write_bytes(b)
        prep.write_bytes(a)
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["files"]["preprocessing.joblib"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError):
        load_run("d")
    assert not marker.exists()


def test_manifest_naming_a_file_outside_the_run_is_refused(repo: Path) -> None:
    info = save_run({"v": 1}, run_id="esc", mode="production")
    folder = repo / info["artifacts_path"]
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["../../../params.yaml"] = {"sha256": "0" * 64, "size": 1}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="outside"):
        load_run("esc")


def test_unknown_run_is_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError):
        load_run("nope")


def test_show_run_reports_files_and_exit_codes(repo: Path) -> None:
    save_run({"v": 1}, metrics={"rmse": 0.5}, run_id="shown", mode="production")
    result = invoke(repo, "show-run", "shown", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["kind"] == "saved"
    assert doc["metrics"] == {"rmse": 0.5}
    assert {f["name"]: f["state"] for f in doc["files"]}["model.joblib"] == "ok"
    human = invoke(repo, "show-run", "shown")
    assert "model.joblib" in human.stdout and "rmse" in human.stdout

    (repo / "artifacts/runs/shown/model.joblib").write_bytes(b"tampered")
    (repo / "artifacts/runs/shown/stray.txt").write_text("x")
    result = invoke(repo, "show-run", "shown", "--json")
    assert result.exit_code == 1
    states = {f["name"]: f["state"] for f in json.loads(result.stdout)["files"]}
    assert states["model.joblib"] == "modified"
    assert states["stray.txt"] == "extra"
    assert states["metrics.json"] == "ok"


def test_show_run_hostile_name_is_exit_2(repo: Path) -> None:
    result = invoke(repo, "show-run", "..")
    assert result.exit_code == 2


names = (
    st.lists(
        st.sampled_from(["a", "b", ".", "..", "-", "_", "/", "\\", " ", "\x00", "\x1f", "\n", "é"]),
        max_size=60,
    ).map("".join)
    | st.text(max_size=110)
    | st.sampled_from(["..", ".", "/etc", "../../x", "a/../../b", "~", "-rf", "x" * 101])
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(test_name=names, run_id=names)
def test_generated_names_never_write_outside_tests(repo: Path, test_name: str, run_id: str) -> None:
    (repo / "artifacts" / "tests").mkdir(parents=True, exist_ok=True)  # as `init` leaves it
    before = {p for p in repo.rglob("*") if ".git" not in p.parts}
    with contextlib.suppress(UsageError):
        save_run({"v": 1}, run_id=run_id, mode="test", test_name=test_name)
    after = {p for p in repo.rglob("*") if ".git" not in p.parts}
    tests = (repo / "artifacts" / "tests").resolve()
    for new in after - before:
        resolved = new.resolve()
        assert resolved == tests or tests in resolved.parents, new


CRASH_SCRIPT = """
import numpy as np
from artifactctl.runs.saved import save_run

big = np.random.default_rng(0).normal(size=400_000)
for i in range(10_000):
    save_run(big, preprocessors={"i": i}, run_id=f"r{i}", mode="test", test_name="crash")
"""


@pytest.mark.slow
def test_sigkill_during_save_run_never_leaves_a_half_written_run(repo: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT], cwd=repo)
    runs = repo / "artifacts/tests/crash/runs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(runs.glob("r*"))) < 3:
        time.sleep(0.05)
    time.sleep(0.137)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in runs.iterdir() if not p.name.startswith("."))
    assert len(finished) >= 3
    for name in finished:
        run = load_run(name)  # every visible run is complete and verifies
        assert run.preprocessors == {"i": int(name[1:])}
