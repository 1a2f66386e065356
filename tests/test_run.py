"""`artifactctl run` / `refresh`: test-mode routing, the overwrite policy, production repro.

Most tests use a tiny real git+DVC pipeline (prep -> fit@ID, stages written
against artifactctl.context()) so that they run in seconds; the end-to-end
tests on the reference pipeline are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import PROJECT, artifactctl, dvc, git, invoke, snapshot

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.overrides import apply_overrides, parse_override
from artifactctl.project import find_repo
from artifactctl.runs import plan, policy
from artifactctl.runs.context import context

PRODUCTION_MODEL = "artifacts/models/candidates/e-1/model.txt"


def production_state(root: Path) -> dict[str, str]:
    """Hashes of everything a test run must leave alone (all but its own folder)."""
    state = snapshot(root)
    return {
        k: v
        for k, v in state.items()
        if not k.startswith(("artifacts/tests/", ".dvc/tmp/", ".git/"))
    }


# --- planning and routing (no subprocesses) ---


def test_reference_pipeline_stages_in_dag_order() -> None:
    from artifactctl.dvc.yamlio import load_yaml

    params = load_yaml(PROJECT / "params.yaml")
    project = find_repo(PROJECT)
    names = [s.name for s in plan.stages_for_test_run(project, params, [])]
    assert names[:2] == ["generate", "reference"]
    for exp in ("v2-001", "v2-002", "v2-006"):
        assert names.index(f"train@{exp}") < names.index(f"evaluate@{exp}")
    selected = plan.stages_for_test_run(project, params, ["v2-006"])
    assert [s.name for s in selected] == [
        "generate",
        "reference",
        "train@v2-006",
        "evaluate@v2-006",
    ]
    train = next(s for s in selected if s.name == "train@v2-006")
    assert train.cmd == "python -m artifactctl.pipeline.train v2-006"
    assert train.out_paths == ("artifacts/models/candidates/v2-006",)


def test_overrides_parse_types_and_reject_unknown_keys() -> None:
    assert parse_override("data.seed=7") == ("data.seed", 7)
    assert parse_override("a.b=0.5") == ("a.b", 0.5)
    assert parse_override("a.flag=true") == ("a.flag", True)
    assert parse_override("a.s=hello") == ("a.s", "hello")
    params = {"data": {"seed": 1, "n": 2}}
    assert apply_overrides(params, {"data.seed": 7}) == {"data": {"seed": 7, "n": 2}}
    assert params["data"]["seed"] == 1  # a copy
    for bad in ("noequals", "=1", "a..b=1"):
        with pytest.raises(UsageError):
            parse_override(bad)
    for key in ("data.typo", "nope.seed", "data"):
        with pytest.raises(UsageError):
            apply_overrides(params, {key: 1})


def test_overwrite_policy_table(tiny: Path) -> None:
    project = find_repo(tiny)
    model = tiny / PRODUCTION_MODEL
    data = tiny / "artifacts/data/base.txt"
    absent = tiny / "artifacts/models/candidates/e-9/model.txt"
    test_copy = tiny / "artifacts/tests/t/models/candidates/e-1/model.txt"
    assert policy.decide(project, model, "test", False).action == policy.OVERWRITE
    assert policy.decide(project, test_copy, "test", False).action == policy.WRITE
    assert policy.decide(project, absent, "production", False).action == policy.WRITE
    assert policy.decide(project, data, "production", False).action == policy.OVERWRITE
    refused = policy.decide(project, model, "production", False)
    assert (refused.action, refused.experiment, refused.allowed) == (policy.REFUSE, "e-1", False)
    assert policy.decide(project, model, "production", True).action == policy.REPLACE
    exp_dir = tiny / "artifacts/experiments/e-2/metrics.json"
    assert policy.decide(project, exp_dir, "production", False).action == policy.REFUSE


def test_context_should_overwrite_follows_mode_and_force(tiny: Path) -> None:
    rel = "models/candidates/e-1/model.txt"
    assert context(mode="test", test_name="x").should_overwrite(rel)
    assert not context(mode="production").should_overwrite(rel)
    assert context(mode="production", force=True).should_overwrite(rel)
    assert context(mode="production").should_overwrite("models/candidates/new/m.txt")


def test_context_reads_test_overrides_from_the_environment(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(layout.ENV_OVERRIDES, json.dumps({"data.seed": 5}))
    monkeypatch.setenv(layout.ENV_TEST_NAME, "envrun")
    ctx = context(mode="test")
    assert ctx.params()["data"]["seed"] == 5
    assert ctx.path("data/base.txt") == tiny / "artifacts/tests/envrun/data/base.txt"
    # production ignores them: params.yaml is what DVC records
    assert context(mode="production").params()["data"]["seed"] == 1


# --- test mode on the tiny pipeline ---


def test_test_run_writes_only_its_folder_and_records_run_json(tiny: Path) -> None:
    before = production_state(tiny)
    result = invoke(tiny, "run", "--name", "t1", "-S", "data.seed=9", "--json")
    assert result.exit_code == 0, result.output
    assert production_state(tiny) == before
    report = json.loads(result.stdout)
    assert report["mode"] == "test" and report["path"] == "artifacts/tests/t1"
    assert [s["stage"] for s in report["stages"]] == ["prep", "fit@e-1", "fit@e-2"]
    fit = report["stages"][1]
    assert (fit["experiment"], fit["status"], fit["outputs"], fit["metric"]) == (
        "e-1",
        "ran",
        2,
        0.1,
    )
    run = tiny / "artifacts/tests/t1"
    assert (run / "data/base.txt").read_text() == "seed=9\n"
    assert (run / "models/candidates/e-1/model.txt").read_text() == "seed=9\nvalue=1\n"
    doc = json.loads((run / "run.json").read_text())
    assert doc["schema"] == layout.RUN_SCHEMA
    assert (doc["name"], doc["mode"], doc["status"]) == ("t1", "test", "ok")
    assert doc["created"].endswith("+00:00")
    assert doc["git_commit"] == git(tiny, "rev-parse", "HEAD").stdout.strip()
    assert doc["params"]["data"]["seed"] == 9 and doc["overrides"] == {"data.seed": 9}
    assert "run" in doc["command"]
    on_disk = snapshot(run)
    del on_disk["run.json"]
    assert {k: v["sha256"] for k, v in doc["files"].items()} == on_disk


def test_test_run_exp_runs_that_experiment_and_its_inputs(tiny: Path) -> None:
    result = invoke(tiny, "run", "--name", "one", "--exp", "e-2", "--json")
    assert result.exit_code == 0, result.output
    assert [s["stage"] for s in json.loads(result.stdout)["stages"]] == ["prep", "fit@e-2"]
    assert not (tiny / "artifacts/tests/one/models/candidates").exists()
    assert (tiny / "artifacts/tests/one/models/baseline/e-2/model.txt").is_file()


def test_test_run_generates_a_name_and_rerun_overwrites(tiny: Path) -> None:
    result = invoke(tiny, "run", "--exp", "e-1", "--json")
    first = json.loads(result.stdout)
    name = first["name"]
    import re

    assert re.fullmatch(r"test_\d{8}_\d{6}_[0-9a-f]{6}", name)
    assert first["replaced_run"] is False and "replaced" not in result.stderr
    (tiny / "artifacts/tests" / name / "stale.txt").write_text("old")
    again = invoke(tiny, "run", "--name", name, "--exp", "e-1")
    assert again.exit_code == 0, again.output
    assert not (tiny / "artifacts/tests" / name / "stale.txt").exists()
    # re-using a name replaces the earlier run, and says so
    assert f"replaced the earlier test run '{name}'" in " ".join(again.stderr.split())


def test_failing_stage_exits_1_with_name_and_output_tail(tiny: Path) -> None:
    before = production_state(tiny)
    result = artifactctl(tiny, "run", "--name", "bad", "-S", "experiments.e-1.fail=true")
    assert result.returncode == 1, result.stderr
    assert "fit@e-1" in result.stderr
    assert "boom: asked to fail" in result.stderr
    assert "Traceback" not in result.stderr
    assert production_state(tiny) == before
    doc = json.loads((tiny / "artifacts/tests/bad/run.json").read_text())
    assert doc["status"] == "failed"
    assert not (tiny / "artifacts/tests/bad/models/baseline/e-2").exists()  # never started


def test_failing_stage_json_reports_skipped_stages(tiny: Path) -> None:
    result = invoke(tiny, "run", "--name", "bad", "-S", "experiments.e-1.fail=true", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed"
    assert [(s["stage"], s["status"]) for s in doc["stages"]] == [
        ("prep", "ran"),
        ("fit@e-1", "failed"),
        ("fit@e-2", "skipped"),
    ]


def test_stage_that_writes_production_in_a_test_run_is_caught(tiny: Path) -> None:
    with open(tiny / "dvc.yaml", "a") as fh:
        fh.write(
            textwrap.indent(
                "rogue:\n  cmd: python stage.py rogue\n  outs: [artifacts/data/rogue.txt]\n", "  "
            )
        )
    result = invoke(tiny, "run", "--name", "r")
    assert result.exit_code == 1
    assert "rogue" in result.stderr and "artifacts/data/base.txt" in result.stderr


def test_library_test_run_reports_a_failed_stage_instead_of_raising(tiny: Path) -> None:
    from artifactctl.runs.testrun import run_test

    report = run_test(find_repo(tiny), name="lib", overrides={"experiments.e-1.fail": True})
    assert (report.ok, report.exit_code, report.status) == (False, 1, "failed")
    assert report.error == "stage 'fit@e-1' failed: exited with 3"
    assert report.message is not None and "boom: asked to fail" in report.message
    assert report.hint.startswith("full output:")
    # the JSON document keeps its shape: the terminal's error text is not in it
    assert list(report.to_dict()) == [
        "mode",
        "name",
        "path",
        "experiments",
        "stages",
        "overrides",
        "replaced",
        "refused",
        "backups",
        "metric",
        "replaced_run",
        "folders",
        "status",
        "error",
    ]
    assert report.to_dict()["mode"] == "test" and type(report.to_dict()["mode"]) is str


def test_library_production_run_reports_a_refusal_instead_of_raising(tiny: Path) -> None:
    from artifactctl.runs.production import run_production

    changed_e1_value(tiny)
    report = run_production(find_repo(tiny))
    assert (report.ok, report.exit_code, report.status, report.error) == (
        False,
        1,
        "refused",
        None,
    )
    assert report.message is not None and "would replace 2 existing artifact(s)" in report.message
    assert "--force" in report.hint
    assert {r["path"] for r in report.refused} == {
        "artifacts/models/candidates/e-1",
        "artifacts/experiments/e-1/metrics.json",
    }
    assert report.stages == [] and report.replaced == []


@pytest.mark.parametrize(
    "args",
    [
        ("--name", "../escape"),
        ("--name", "a/b"),
        ("--name", ""),
        ("--name", "x" * 101),
        ("--name", "tab\there"),
        ("--exp", "../../etc"),
        ("--exp", "e-1/../x"),
        ("--exp", "nope"),
        ("-S", "data.nope=1"),
        ("-S", "novalue"),
        ("--mode", "staging"),
        ("--mode", "production", "--name", "t"),
        ("--mode", "production", "-S", "data.seed=2"),
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(tiny: Path, args: tuple[str, ...]) -> None:
    before = snapshot(tiny)
    result = invoke(tiny, "run", *args)
    assert result.exit_code == 2, result.output
    assert snapshot(tiny) == before
    assert not (tiny / "artifacts/tests").exists()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(
        alphabet=st.sampled_from(list("ab.-_/\\ \x00\n\x7fé")), min_size=1, max_size=12
    ).filter(lambda s: "\x00" not in s)
)
def test_generated_run_names_never_write_outside_tests(tiny: Path, name: str) -> None:
    # NUL cannot cross argv at all; it is covered by the library-level property test.
    outside = production_state(tiny)
    tests = tiny / "artifacts" / "tests"
    result = invoke(tiny, "run", "--name", name, "--exp", "e-2")
    try:
        layout.validate_name(name)
    except UsageError:
        assert result.exit_code == 2
    else:
        assert result.exit_code == 0, result.output
        assert (tests / name / "run.json").is_file()
    assert production_state(tiny) == outside
    if tests.exists():
        for entry in tests.iterdir():
            assert entry.parent == tests and not entry.is_symlink()
        shutil.rmtree(tests)


# --- production mode on the tiny pipeline ---


def test_production_refuses_to_replace_registered_artifacts_without_force(tiny: Path) -> None:
    params = tiny / "params.yaml"
    params.write_text(params.read_text().replace("value: 1,", "value: 5,"))
    before = snapshot(tiny)
    result = artifactctl(tiny, "run", "--mode", "production")
    assert result.returncode == 1, result.stderr
    assert "would replace" in result.stderr and PRODUCTION_MODEL.rsplit("/", 1)[0] in result.stderr
    assert "--force" in result.stderr
    after = snapshot(tiny)
    assert {k: v for k, v in after.items() if not k.startswith(".dvc/tmp/")} == {
        k: v for k, v in before.items() if not k.startswith(".dvc/tmp/")
    }
    assert not (tiny / "artifacts" / layout.OVERWRITE_LOG).exists()


def test_production_force_replaces_and_logs_each_replacement(tiny: Path) -> None:
    from artifactctl.hashing import sha256_file

    params = tiny / "params.yaml"
    params.write_text(params.read_text().replace("value: 1,", "value: 5,"))
    old_sha = sha256_file(tiny / PRODUCTION_MODEL)
    lock_before = (tiny / "dvc.lock").read_text()
    result = invoke(tiny, "run", "--mode", "production", "--force", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # DVC's own messages stayed off stdout
    assert {s["stage"]: s["status"] for s in report["stages"]} == {
        "prep": "unchanged",
        "fit@e-1": "ran",
        "fit@e-2": "unchanged",
    }
    assert (tiny / PRODUCTION_MODEL).read_text() == "seed=1\nvalue=5\n"
    assert (tiny / "dvc.lock").read_text() != lock_before
    records = policy.read_records(find_repo(tiny))
    assert {r["path"] for r in records} == {
        "artifacts/models/candidates/e-1",
        "artifacts/experiments/e-1/metrics.json",
    }
    model_dir = next(r for r in records if r["path"] == "artifacts/models/candidates/e-1")
    assert model_dir["stage"] == "fit@e-1" and model_dir["experiment"] == "e-1"
    # the hash before is what dvc.lock recorded: the old version can be checked out again
    assert model_dir["md5_before"] in lock_before
    assert model_dir["md5_after"] in (tiny / "dvc.lock").read_text()
    assert model_dir["md5_before"] != model_dir["md5_after"]
    assert model_dir["sha256_before"] != model_dir["sha256_after"]
    assert model_dir["who"] and model_dir["when"].endswith("+00:00")
    assert "--force" in model_dir["command"]
    assert old_sha != sha256_file(tiny / PRODUCTION_MODEL)
    assert report["replaced"] == records


def test_production_writes_a_new_experiments_missing_artifacts_without_force(tiny: Path) -> None:
    params = tiny / "params.yaml"
    params.write_text(
        params.read_text()
        + "  e-3: {phase: candidates, model: ridge, value: 3, fail: false, sleep: 0}\n"
    )
    result = invoke(tiny, "run", "--mode", "production", "--exp", "e-3", "--json")
    assert result.exit_code == 0, result.output
    assert (tiny / "artifacts/models/candidates/e-3/model.txt").read_text() == "seed=1\nvalue=3\n"
    assert "fit@e-3" in (tiny / "dvc.lock").read_text()
    assert not (tiny / "artifacts" / layout.OVERWRITE_LOG).exists()


def test_production_unchanged_pipeline_runs_nothing(tiny: Path) -> None:
    before = snapshot(tiny, ["dvc.lock", PRODUCTION_MODEL])
    result = invoke(tiny, "run", "--mode", "production", "--json")
    assert result.exit_code == 0, result.output
    assert {s["status"] for s in json.loads(result.stdout)["stages"]} == {"unchanged"}
    assert snapshot(tiny, ["dvc.lock", PRODUCTION_MODEL]) == before


def test_production_failing_stage_exits_1_with_stage_and_tail(tiny: Path) -> None:
    params = tiny / "params.yaml"
    params.write_text(params.read_text().replace("value: 1, fail: false", "value: 1, fail: true"))
    result = artifactctl(tiny, "run", "--mode", "production", "--force")
    assert result.returncode == 1, result.stderr
    assert "fit@e-1" in result.stderr and "boom: asked to fail" in result.stderr
    # the stage's previous output was replaced (forced) and that is on record
    paths = {r["path"] for r in policy.read_records(find_repo(tiny))}
    assert "artifacts/models/candidates/e-1" in paths


def test_refresh_refuses_then_forced_regenerates_only_the_selection(tiny: Path) -> None:
    before = production_state(tiny)
    result = artifactctl(tiny, "refresh", "--exp", "e-2")
    assert result.returncode == 1
    assert "artifacts/models/baseline/e-2" in result.stderr
    assert production_state(tiny) == before
    forced = invoke(tiny, "refresh", "--exp", "e-2", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    doc = json.loads(forced.stdout)
    ran = {s["stage"] for s in doc["stages"] if s["status"] == "ran"}
    assert ran == {"prep", "fit@e-2"}
    # the stages are deterministic: every output came back with the md5 it had (A -> A),
    # which is no replacement, so nothing is logged or reported as replaced
    assert doc["replaced"] == [] and policy.read_records(find_repo(tiny)) == []
    assert (tiny / PRODUCTION_MODEL).read_text() == "seed=1\nvalue=1\n"
    params = tiny / "params.yaml"
    params.write_text(params.read_text().replace("value: 2,", "value: 7,"))
    changed = invoke(tiny, "refresh", "--exp", "e-2", "--force", "--json")
    assert changed.exit_code == 0, changed.output
    logged = {r["path"] for r in policy.read_records(find_repo(tiny))}
    assert logged == {"artifacts/models/baseline/e-2", "artifacts/experiments/e-2/metrics.json"}
    assert "replaced artifacts/" not in invoke(tiny, "refresh", "--exp", "e-2", "--force").stdout


def test_refresh_rejects_hostile_experiment_ids(tiny: Path) -> None:
    assert invoke(tiny, "refresh", "--exp", "../x").exit_code == 2
    assert invoke(tiny, "refresh", "--exp", "unknown").exit_code == 2


@pytest.mark.slow
def test_sigkilled_forced_production_run_is_still_logged(tiny: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from support import BIN

    params = tiny / "params.yaml"
    params.write_text(
        params.read_text().replace(
            "value: 1, fail: false, sleep: 0", "value: 5, fail: false, sleep: 60"
        )
    )
    model_dir = tiny / "artifacts/models/candidates/e-1"
    proc = subprocess.Popen(
        [BIN / "artifactctl", "run", "--mode", "production", "--force"],
        cwd=tiny,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    logs = tiny / ".dvc/tmp/artifactctl/repro"
    while time.monotonic() < deadline:
        started = any("sleeping" in p.read_text() for p in logs.glob("*/fit@e-1.log"))
        if started and not model_dir.exists():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the stage never started")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tiny / "artifacts" / layout.OVERWRITE_LOG).exists()
    status = artifactctl(tiny, "status")
    assert "interrupted" in status.stderr
    records = policy.read_records(find_repo(tiny))
    assert {r["path"] for r in records} == {
        "artifacts/models/candidates/e-1",
        "artifacts/experiments/e-1/metrics.json",
    }
    assert all(r["note"] == "interrupted" and r["md5_after"] is None for r in records)
    assert all(r["md5_before"] for r in records)
    again = artifactctl(tiny, "status")  # recovered once, not again
    assert "interrupted" not in again.stderr
    assert len(policy.read_records(find_repo(tiny))) == 2


def changed_e1_value(root: Path) -> None:
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("value: 1,", "value: 5,"))


@pytest.mark.slow
def test_production_run_killed_once_its_journal_is_durable_replaces_and_records_nothing(
    tiny: Path,
) -> None:
    from crashsupport import kill_at

    changed_e1_value(tiny)
    before = production_state(tiny)
    kill_at(tiny, "production-run-journal", "run", "--mode", "production", "--force")
    assert production_state(tiny) == before  # DVC had not started
    status = artifactctl(tiny, "status")
    assert "interrupted; recorded 0 replaced artifact(s)" in " ".join(status.stderr.split())
    assert policy.read_records(find_repo(tiny)) == []
    assert not list((tiny / ".dvc/tmp/artifactctl/journal").iterdir())


@pytest.mark.slow
def test_production_run_killed_after_a_stage_replaced_its_outputs_records_them(
    tiny: Path,
) -> None:
    from crashsupport import kill_at

    changed_e1_value(tiny)
    lock_before = (tiny / "dvc.lock").read_text()
    kill_at(tiny, "production-run-stage-ran", "run", "--mode", "production", "--force")
    assert (tiny / PRODUCTION_MODEL).read_text() == "seed=1\nvalue=5\n"
    assert not (tiny / "artifacts" / layout.OVERWRITE_LOG).exists()
    assert "interrupted" in artifactctl(tiny, "status").stderr
    records = policy.read_records(find_repo(tiny))
    assert {r["path"] for r in records} == {
        "artifacts/models/candidates/e-1",
        "artifacts/experiments/e-1/metrics.json",
    }
    for record in records:
        assert record["note"] == "interrupted" and record["stage"] == "fit@e-1"
        assert record["md5_before"] in lock_before
        assert record["md5_after"] and record["md5_after"] != record["md5_before"]
    again = artifactctl(tiny, "status")  # recovered once, not again
    assert "interrupted" not in again.stderr
    assert len(policy.read_records(find_repo(tiny))) == 2


# --- the reference pipeline, end to end ---


@pytest.mark.slow
def test_reference_test_run_leaves_production_and_lock_byte_identical(
    pipeline_repo: Path,
) -> None:
    before = production_state(pipeline_repo)
    result = artifactctl(
        pipeline_repo,
        "run",
        "--name",
        "alpha5",
        "--exp",
        "v2-002",
        "-S",
        "experiments.v2-002.alpha=5.0",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert production_state(pipeline_repo) == before
    report = json.loads(result.stdout)
    evaluate = next(s for s in report["stages"] if s["stage"] == "evaluate@v2-002")
    assert evaluate["metric"] is not None and evaluate["outputs"] >= 5
    run = pipeline_repo / "artifacts/tests/alpha5"
    assert json.loads((run / "experiments/v2-002/params.json").read_text())["alpha"] == 5.0
    assert (run / "models/candidates/v2-002/model.joblib").is_file()
    show = invoke(pipeline_repo, "show-run", "alpha5", "--json")
    assert show.exit_code == 0, show.output
    assert json.loads(show.stdout)["metrics"]["v2-002"]["rmse"] == evaluate["metric"]


@pytest.mark.slow
def test_reference_production_refuses_then_forced_replacement_is_logged(
    pipeline_repo: Path,
) -> None:
    params = pipeline_repo / "params.yaml"
    params.write_text(params.read_text().replace("n_estimators: 200", "n_estimators: 20"))
    model = pipeline_repo / "artifacts/models/candidates/v2-006/model.joblib"
    old = model.read_bytes()
    refused = artifactctl(pipeline_repo, "run", "--mode", "production")
    assert refused.returncode == 1
    assert "artifacts/models/candidates/v2-006" in refused.stderr
    assert model.read_bytes() == old
    forced = artifactctl(pipeline_repo, "run", "--mode", "production", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert model.read_bytes() != old
    logged = [
        json.loads(line) for line in (pipeline_repo / "artifacts" / layout.OVERWRITE_LOG).open()
    ]
    assert "artifacts/models/candidates/v2-006" in {r["path"] for r in logged}
    assert {r["experiment"] for r in logged} == {"v2-006"}
    assert dvc(pipeline_repo, "status", "-q", check=False).returncode == 0


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(exp=st.text(max_size=110) | st.sampled_from(["..", "e-1/..", "/e-1", "e-1\n", " e-1"]))
def test_generated_experiment_ids_are_refused_unless_registered(tiny: Path, exp: str) -> None:
    if exp in ("e-1", "e-2") or "\x00" in exp:
        return  # registered ones run; NUL cannot cross argv
    before = snapshot(tiny)
    for mode in ("test", "production"):
        result = invoke(tiny, "run", "--mode", mode, "--exp", exp)
        assert result.exit_code == 2, result.output
    assert snapshot(tiny) == before


@pytest.mark.slow
def test_reference_stage_run_by_hand_in_production_refuses_to_replace(
    pipeline_repo: Path,
) -> None:
    import os

    from support import sh

    model = pipeline_repo / "artifacts/models/candidates/v2-006/model.joblib"
    old = model.read_bytes()
    env = {**os.environ, "ARTIFACTCTL_MODE": "production"}
    env.pop("DVC_STAGE", None)
    proc = sh(
        "python",
        "-m",
        "artifactctl.pipeline.train",
        "v2-006",
        cwd=pipeline_repo,
        check=False,
        env=env,
    )
    assert proc.returncode != 0
    assert "refusing to replace" in proc.stderr
    assert model.read_bytes() == old


def test_refresh_runs_stages_with_artifactctls_interpreter_without_an_activated_venv(
    tiny: Path, tmp_path: Path
) -> None:
    # A PATH whose `python` is the system one (no artifactctl, no typer): `make refresh`
    # calls .venv/bin/artifactctl with the venv not activated.
    system_bin = tmp_path / "system-bin"
    system_bin.mkdir()
    (system_bin / "python").symlink_to(
        shutil.which("python3", path="/usr/bin:/bin") or "/bin/false"
    )
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = f"{system_bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
    result = artifactctl(tiny, "refresh", "--exp", "e-2", "--force", "--json", env=env)
    assert result.returncode == 0, result.stderr
    ran = {s["stage"] for s in json.loads(result.stdout)["stages"] if s["status"] == "ran"}
    assert ran == {"prep", "fit@e-2"}
