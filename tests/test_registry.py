"""The experiment registry on the reproduced reference pipeline (real git + DVC repos)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from support import dvc, invoke, snapshot

import artifactctl
from artifactctl.errors import IntegrityError
from artifactctl.project import find_repo
from artifactctl.registry.gates import evaluate_gates, read_predictions

PROD = "artifacts/models/production"
TESTS = "artifacts/experiments/promotion_tests"
MODEL = {
    "v2-001": "artifacts/models/baseline/v2-001",
    "v2-002": "artifacts/models/candidates/v2-002",
    "v2-006": "artifacts/models/candidates/v2-006",
}


def run(repo: Path, *args: str, code: int = 0) -> object:
    result = invoke(repo, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def events(repo: Path) -> list[dict]:
    return json.loads(run(repo, "history", "--json").stdout)["events"]


def champion_files(repo: Path, slot: str = "champion_current") -> dict[str, str]:
    return snapshot(repo / PROD / slot)


def test_promote_clearly_better_candidate_against_baseline_passes(pipeline_repo: Path) -> None:
    result = run(pipeline_repo, "promote", "v2-006", "--json")
    doc = json.loads(result.stdout)
    assert doc["promoted"] and doc["passed"] and not doc["forced"]
    assert (doc["baseline"], doc["baseline_role"]) == ("v2-001", "baseline")
    test = json.loads((pipeline_repo / TESTS / "v2-006_vs_v2-001.json").read_text())
    assert test["schema"] == "artifactctl.promotion_test/1"
    assert test["passed"] is True and test["promoted"] is True
    assert test["candidate_value"] == pytest.approx(1.21, abs=0.05)
    assert test["baseline_value"] == pytest.approx(1.68, abs=0.05)
    assert test["improvement"] == pytest.approx(test["baseline_value"] - test["candidate_value"])
    assert test["p_value"] < 0.05 and test["ci"]["low"] > 0
    assert {g["name"] for g in test["gates"]} >= {"p_value", "min_improvement"}
    assert all(g["passed"] for g in test["gates"])
    assert len(test["git_commit"]) == 40 and test["timestamp"]
    # The champion copy is byte-identical to the candidate's model folder.
    assert champion_files(pipeline_repo) == snapshot(pipeline_repo / MODEL["v2-006"])
    where = run(pipeline_repo, "where", "champion").stdout
    assert (
        where.count("\n") == 1 and Path(where.strip()) == pipeline_repo / PROD / "champion_current"
    )
    [event] = events(pipeline_repo)
    assert (event["event"], event["id"], event["forced"]) == ("promote", "v2-006", False)


def test_promote_result_is_exactly_what_the_bootstrap_says(pipeline_repo: Path) -> None:
    run(pipeline_repo, "promote", "v2-006")
    project = find_repo(pipeline_repo)
    exp = pipeline_repo / "artifacts/experiments"
    expected = evaluate_gates(
        read_predictions(exp / "v2-001/predictions.csv"),
        read_predictions(exp / "v2-006/predictions.csv"),
        project.settings.promotion,
        json.loads((exp / "v2-001/metrics.json").read_text()),
    )
    before = snapshot(pipeline_repo / PROD)
    result = run(pipeline_repo, "promote", "v2-001", code=1)
    assert "FAIL" in result.stdout and "not promoted" in result.stdout
    test = json.loads((pipeline_repo / TESTS / "v2-001_vs_v2-006.json").read_text())
    assert test["passed"] is expected.passed is False
    assert test["p_value"] == expected.p_value
    assert (test["ci"]["low"], test["ci"]["high"]) == (expected.ci_low, expected.ci_high)
    assert [g["passed"] for g in test["gates"]] == [g.passed for g in expected.gates]
    # A failed gate changes nothing else.
    assert snapshot(pipeline_repo / PROD) == before
    assert [e["id"] for e in events(pipeline_repo)] == ["v2-006"]


def test_force_requires_a_reason_and_is_recorded(pipeline_repo: Path) -> None:
    run(pipeline_repo, "promote", "v2-006")
    assert "--reason" in run(pipeline_repo, "promote", "v2-001", "--force", code=2).stderr
    doc = json.loads(
        run(pipeline_repo, "promote", "v2-001", "--force", "--reason", "hotfix", "--json").stdout
    )
    assert doc["promoted"] and doc["forced"] and not doc["passed"]
    last = events(pipeline_repo)[-1]
    assert (last["id"], last["forced"], last["reason"]) == ("v2-001", True, "hotfix")
    assert "(forced)" in run(pipeline_repo, "history").stdout
    assert champion_files(pipeline_repo) == snapshot(pipeline_repo / MODEL["v2-001"])
    assert champion_files(pipeline_repo, "champion_previous") == snapshot(
        pipeline_repo / MODEL["v2-006"]
    )


def test_dry_run_reports_the_gates_and_changes_nothing(pipeline_repo: Path) -> None:
    before = snapshot(pipeline_repo / "artifacts")
    doc = json.loads(run(pipeline_repo, "promote", "v2-006", "--dry-run", "--json").stdout)
    assert doc["passed"] and not doc["promoted"] and doc["dry_run"]
    assert snapshot(pipeline_repo / "artifacts") == before
    run(pipeline_repo, "promote", "v2-006", "--dry-run", "--against", "v2-002", code=1)


def test_promote_refuses_bad_candidates_with_exit_2(pipeline_repo: Path) -> None:
    assert "unknown experiment" in run(pipeline_repo, "promote", "v2-099", code=2).stderr
    run(pipeline_repo, "new", "--model", "ridge")
    assert "not built" in run(pipeline_repo, "promote", "v2-007", code=2).stderr
    assert "no model folder" in run(pipeline_repo, "where", "v2-007", code=2).stderr
    assert (
        run(pipeline_repo, "where", "v2-002").stdout == str(pipeline_repo / MODEL["v2-002"]) + "\n"
    )
    run(pipeline_repo, "promote", "v2-006")
    assert "already the champion" in run(pipeline_repo, "promote", "v2-006", code=2).stderr
    assert "itself" in run(pipeline_repo, "promote", "v2-002", "--against", "v2-002", code=2).stderr
    # A candidate whose predictions no longer match dvc.lock is refused before any gate runs.
    predictions = pipeline_repo / "artifacts/experiments/v2-002/predictions.csv"
    lines = predictions.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ",9", 1)  # one actual value changed
    predictions.write_text("".join(lines))
    err = run(pipeline_repo, "promote", "v2-002", code=2).stderr
    assert "checksum verification" in err and "predictions.csv" in err
    assert [e["event"] for e in events(pipeline_repo)] == ["new", "promote"]


def test_promote_refuses_predictions_over_different_rows(pipeline_repo: Path) -> None:
    predictions = pipeline_repo / "artifacts/experiments/v2-006/predictions.csv"
    lines = predictions.read_text().splitlines(keepends=True)
    predictions.write_text("".join(lines[:-10]))  # ten fewer evaluation rows
    dvc(pipeline_repo, "commit", "-f", "-q", "evaluate@v2-006")  # recorded: checksums pass
    err = run(pipeline_repo, "promote", "v2-006", code=2).stderr
    assert "different rows" in err
    assert not (pipeline_repo / PROD / "ledger.jsonl").exists()


def test_rollback_restores_byte_identical_champion_and_walks_back(pipeline_repo: Path) -> None:
    assert "no champion" in run(pipeline_repo, "rollback", code=2).stderr
    run(pipeline_repo, "promote", "v2-006")
    first = champion_files(pipeline_repo)
    assert "no previous" in run(pipeline_repo, "rollback", code=2).stderr
    run(pipeline_repo, "promote", "v2-002")
    run(pipeline_repo, "promote", "v2-001", "--force", "--reason", "experiment")
    assert [run(pipeline_repo, "where", w).stdout.strip() != "" for w in ("champion", "previous")]
    doc = json.loads(run(pipeline_repo, "rollback", "--reason", "bad", "--json").stdout)
    assert doc == {
        "schema": "artifactctl.rollback/1",
        "from": "v2-001",
        "to": "v2-002",
        "previous": "v2-006",
    }
    assert champion_files(pipeline_repo) == snapshot(pipeline_repo / MODEL["v2-002"])
    run(pipeline_repo, "rollback")
    assert champion_files(pipeline_repo) == first
    assert not (pipeline_repo / PROD / "champion_previous").exists()
    run(pipeline_repo, "where", "previous", code=2)
    kinds = [(e["event"], e["id"]) for e in events(pipeline_repo)]
    assert kinds[-2:] == [("rollback", "v2-002"), ("rollback", "v2-006")]


def test_champion_copies_are_rebuilt_from_the_ledger_when_missing(pipeline_repo: Path) -> None:
    run(pipeline_repo, "promote", "v2-006")
    expected = champion_files(pipeline_repo)
    shutil.rmtree(pipeline_repo / PROD / "champion_current")  # as in a fresh clone
    shutil.rmtree(pipeline_repo / MODEL["v2-006"])  # even the source: the DVC cache has it
    rebuilt = run(pipeline_repo, "where", "champion")
    assert champion_files(pipeline_repo) == expected
    assert rebuilt.stderr == ""  # absent copies (a fresh clone) are rebuilt quietly
    (pipeline_repo / PROD / "champion_current" / "metadata.json").write_text("{}")
    repaired = run(pipeline_repo, "where", "champion")
    assert "warning:" in repaired.stderr and "is stale" in repaired.stderr
    assert "rebuilt artifacts/models/production/champion_current/ from the ledger" in (
        repaired.stderr
    )
    assert champion_files(pipeline_repo) == expected


def test_load_champion_verifies_before_unpickling(pipeline_repo: Path) -> None:
    run(pipeline_repo, "promote", "v2-006")
    champ = artifactctl.load_champion(start=pipeline_repo)
    assert champ.id == "v2-006" and champ.metadata["model"] == "gbr"
    assert hasattr(champ.model, "predict") and "scaler" in champ.preprocessing
    # A tampered copy is repaired from a verified source, never unpickled as is...
    model = pipeline_repo / PROD / "champion_current/model.joblib"
    model.write_bytes(b"not a pickle")
    with pytest.warns(artifactctl.StaleChampionWarning, match="holds other files than v2-006's"):
        assert artifactctl.load_champion(start=pipeline_repo).id == "v2-006"
    with warnings.catch_warnings():  # the copy is good again: no warning
        warnings.simplefilter("error")
        artifactctl.load_champion(start=pipeline_repo)
    # ...and with no good copy anywhere, loading refuses.
    cache = find_repo(pipeline_repo).cache_dir
    shutil.rmtree(cache)
    shutil.rmtree(pipeline_repo / MODEL["v2-006"])
    model.write_bytes(b"not a pickle")
    with pytest.raises(IntegrityError), pytest.warns(artifactctl.StaleChampionWarning):
        artifactctl.load_champion(start=pipeline_repo)


def test_archive_and_unarchive_round_trip(pipeline_repo: Path) -> None:
    params = (pipeline_repo / "params.yaml").read_bytes()
    lock = (pipeline_repo / "dvc.lock").read_bytes()
    model = snapshot(pipeline_repo / MODEL["v2-002"])
    run(pipeline_repo, "promote", "v2-006")
    assert "champion" in run(pipeline_repo, "archive", "v2-006", "--reason", "x", code=2).stderr
    run(pipeline_repo, "archive", "v2-002", "--reason", "superseded by v2-006")
    assert not (pipeline_repo / MODEL["v2-002"]).exists()
    archived = pipeline_repo / "artifacts/archive/v2-002"
    assert snapshot(archived / "model") == model
    assert "v2-002" not in (pipeline_repo / "params.yaml").read_text()
    assert "v2-002" not in (pipeline_repo / "dvc.lock").read_text()
    manifest = (pipeline_repo / "artifacts/archive/MANIFEST.md").read_text()
    assert "| archived | v2-002 |" in manifest and "superseded by v2-006" in manifest
    rows = {
        r["id"]: r for r in json.loads(run(pipeline_repo, "list", "--json").stdout)["experiments"]
    }
    assert rows["v2-002"]["state"] == "archived" and rows["v2-006"]["role"] == "champion"
    assert Path(run(pipeline_repo, "where", "v2-002").stdout.strip()) == archived / "model"
    assert "not archived" in run(pipeline_repo, "unarchive", "v2-001", code=2).stderr
    run(pipeline_repo, "unarchive", "v2-002")
    assert (pipeline_repo / "params.yaml").read_bytes() == params
    assert (pipeline_repo / "dvc.lock").read_bytes() == lock
    assert snapshot(pipeline_repo / MODEL["v2-002"]) == model
    assert not archived.exists()
    assert (
        "| unarchived | v2-002 |" in (pipeline_repo / "artifacts/archive/MANIFEST.md").read_text()
    )
    assert dvc(pipeline_repo, "status", "-q", check=False).returncode == 0
    assert [e["event"] for e in events(pipeline_repo)] == ["promote", "archive", "unarchive"]


def test_new_allocates_ids_that_are_never_reused(pipeline_repo: Path) -> None:
    params = pipeline_repo / "params.yaml"
    original = params.read_text()
    doc = json.loads(
        run(
            pipeline_repo, "new", "--model", "lasso", "-S", "alpha=0.05", "--desc", "try", "--json"
        ).stdout
    )
    assert doc["id"] == "v2-007" and doc["params"]["alpha"] == 0.05
    text = params.read_text()
    assert text.startswith(original)  # comments and formatting kept; entry appended in order
    assert "  v2-007:\n    phase: candidates\n    model: lasso\n    alpha: 0.05\n" in text
    run(pipeline_repo, "archive", "v2-007", "--reason", "never built")
    assert (
        json.loads(run(pipeline_repo, "new", "--model", "ridge", "--json").stdout)["id"] == "v2-008"
    )
    params.write_text(params.read_text().split("  v2-008:")[0])  # deleted by hand
    assert (
        json.loads(run(pipeline_repo, "new", "--model", "gbr", "--json").stdout)["id"] == "v2-009"
    )
    # no list of model kinds: what a kind means is the pipeline's business
    svm = json.loads(run(pipeline_repo, "new", "--model", "svm", "--json").stdout)
    assert svm["id"] == "v2-010" and svm["model"] == "svm"
    assert (
        "--phase" not in run(pipeline_repo, "new", "--model", "ridge", "-p", "prod", code=2).stderr
    )
    run(pipeline_repo, "new", "--model", "ridge", "-S", "phase=x", code=2)


def test_list_show_and_history(pipeline_repo: Path) -> None:
    run(pipeline_repo, "promote", "v2-006")
    run(pipeline_repo, "promote", "v2-002")
    rows = json.loads(run(pipeline_repo, "list", "--sort", "rmse", "--json").stdout)["experiments"]
    assert [r["id"] for r in rows] == ["v2-002", "v2-006", "v2-001"]
    assert [r["role"] for r in rows] == ["champion", "previous", ""]
    assert all(r["state"] == "built" for r in rows)
    baseline = json.loads(run(pipeline_repo, "list", "--phase", "baseline", "--json").stdout)
    assert [r["id"] for r in baseline["experiments"]] == ["v2-001"]
    table = run(pipeline_repo, "list").stdout
    assert "* champion" in table and "previous" in table
    show = json.loads(run(pipeline_repo, "show", "v2-006", "--json").stdout)
    assert show["metrics"]["rmse"] == pytest.approx(1.21, abs=0.05)
    assert {f["state"] for f in show["files"]} == {"ok"}
    assert {(t["candidate"], t["baseline"]) for t in show["promotion_tests"]} == {
        ("v2-006", "v2-001"),
        ("v2-002", "v2-006"),
    }
    history = events(pipeline_repo)
    assert [(e["event"], e["id"], e["replaced"]) for e in history] == [
        ("promote", "v2-006", None),
        ("promote", "v2-002", "v2-006"),
    ]
    assert all(e["user"] and e["time"] and e["gates"].endswith("passed") for e in history)
    run(pipeline_repo, "show", "v2-404", code=2)


# ------------------------------------------- gates computed outside the repository lock


def test_promote_dry_run_takes_no_lock(pipeline_repo: Path) -> None:
    with find_repo(pipeline_repo).lock():  # as a long pull or clean would hold it
        env = {"ARTIFACTCTL_LOCK_TIMEOUT": "0"}
        result = invoke(pipeline_repo, "promote", "v2-006", "--dry-run", "--json", env=env)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["passed"]
        # A real promote still needs the lock to record its result: exit 3.
        assert invoke(pipeline_repo, "promote", "v2-006", env=env).exit_code == 3
    assert not (pipeline_repo / TESTS).exists()


def test_promote_computes_again_when_the_champion_changed_while_its_gates_ran(
    pipeline_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactctl.registry import promote as promote_module

    project = find_repo(pipeline_repo)
    interleaved: list[str] = []

    def meanwhile(name: str) -> None:
        # Another promote commits while this one computes its gates (no lock is held yet).
        if name == "promote-gates-computing" and not interleaved:
            interleaved.append(name)
            promote_module.promote(project, "v2-006")

    monkeypatch.setattr(promote_module, "journal_step", meanwhile)
    result = promote_module.promote(project, "v2-002")
    # Computed first against the baseline v2-001; recorded against the new champion.
    assert (result.baseline, result.baseline_role, result.promoted) == ("v2-006", "champion", True)
    assert [(e["id"], e.get("replaced")) for e in events(pipeline_repo)] == [
        ("v2-006", None),
        ("v2-002", "v2-006"),
    ]
    assert not (pipeline_repo / TESTS / "v2-002_vs_v2-001.json").exists()
    test = json.loads((pipeline_repo / TESTS / "v2-002_vs_v2-006.json").read_text())
    assert test["baseline_role"] == "champion" and test["passed"]


def test_promotion_tests_record_their_method_and_old_ones_stay_readable(
    pipeline_repo: Path,
) -> None:
    run(pipeline_repo, "promote", "v2-006")
    test = json.loads((pipeline_repo / TESTS / "v2-006_vs_v2-001.json").read_text())
    assert (test["method"], test["method_version"], test["units"]) == (
        "paired-bootstrap",
        2,
        test["n_rows"],
    )
    # A test written before method versions existed (version 1) is still listed by `show`.
    old = {k: v for k, v in test.items() if k not in ("method", "method_version", "units")}
    (pipeline_repo / TESTS / "v2-002_vs_v2-001.json").write_text(
        json.dumps({**old, "candidate": "v2-002"})
    )
    shown = json.loads(run(pipeline_repo, "show", "v2-001", "--json").stdout)
    versions = {t["candidate"]: t["method_version"] for t in shown["promotion_tests"]}
    assert versions == {"v2-002": 1, "v2-006": 2}
