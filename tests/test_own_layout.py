"""Any DVC repository, any layout: settings instead of assumptions (invariant 9).

(b) A repository with its own params key (``models``), stage name (``fit``), output folders
(``out/<id>/``), prediction columns (``idx, y, yhat``), ID prefix (``m-``) and the whole
repository as the artifacts root, configured by pyproject settings alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layouts import families, own_layout, tutorial
from support import init_repo, invoke, snapshot

from artifactctl.config import load_settings
from artifactctl.dvc.yamlio import load_yaml


def run(repo: Path, *args: str, code: int = 0) -> object:
    result = invoke(repo, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def as_json(repo: Path, *args: str, code: int = 0) -> dict:
    return json.loads(run(repo, *args, "--json", code=code).stdout)


@pytest.fixture(scope="module")
def built_own(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return own_layout(tmp_path_factory.mktemp("own") / "repo")


@pytest.fixture
def own(built_own: Path, tmp_path: Path) -> Path:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(built_own, repo, symlinks=True)
    return repo


def test_status_covers_every_output_of_a_whole_repository_root(own: Path) -> None:
    doc = as_json(own, "status")
    assert {a["path"]: a["state"] for a in doc["artifacts"]} == {
        "data/rows.csv": "ok",
        "out/m-001": "ok",
        "out/m-002": "ok",
    }
    assert {a["experiment"] for a in doc["artifacts"]} == {None, "m-001", "m-002"}
    assert {a["path"]: a["kind"] for a in doc["artifacts"]}["out/m-001"] == "model"


def test_list_knows_what_is_built_from_the_foreach_stages(own: Path) -> None:
    rows = {r["id"]: r for r in as_json(own, "list")["experiments"]}
    assert {k: r["state"] for k, r in rows.items()} == {"m-001": "built", "m-002": "built"}
    assert rows["m-001"]["metrics"]["rmse"] > rows["m-002"]["metrics"]["rmse"]


def test_promote_against_with_no_champion_and_no_baseline_phase(own: Path) -> None:
    refused = run(own, "promote", "m-002", code=2).stderr
    assert "--against" in refused
    doc = as_json(own, "promote", "m-002", "--against", "m-001")
    assert doc["promoted"] and doc["baseline_role"] == "against"
    assert doc["test"]["n_rows"] == 300  # paired by the idx column, y and yhat read
    champion = Path(run(own, "where", "champion").stdout.strip())
    assert snapshot(champion) == snapshot(own / "out" / "m-002")
    assert run(own, "where", "m-001").stdout.strip() == str(own / "out" / "m-001")
    rows = {r["id"]: r["role"] for r in as_json(own, "list")["experiments"]}
    assert rows == {"m-001": "", "m-002": "champion"}


def test_not_built_names_the_pipelines_own_stage(own: Path) -> None:
    run(own, "new", "--from", "m-001")
    err = run(own, "promote", "m-003", "--against", "m-001", code=2).stderr
    assert "not built" in err and "dvc repro fit@m-003" in err


def test_new_from_copies_the_entry_with_the_own_prefix(own: Path) -> None:
    doc = as_json(own, "new", "--from", "m-002", "-S", "noise=0.1", "--desc", "less noise")
    assert doc["id"] == "m-003"
    params = load_yaml(own / "params.yaml")
    assert params["models"]["m-003"] == {"seed": 2, "noise": 0.1, "desc": "less noise"}
    assert "experiments" not in params
    assert as_json(own, "new", "--from", "m-003")["id"] == "m-004"
    assert "unknown experiment" in run(own, "new", "--from", "m-404", code=2).stderr
    assert "--from" in run(own, "new", code=2).stderr


def test_verify_catches_a_corrupted_model(own: Path) -> None:
    assert as_json(own, "verify")["ok"]
    with open(own / "out" / "m-001" / "model.pkl", "ab") as fh:
        fh.write(b"junk")
    doc = as_json(own, "verify", code=1)
    bad = [f for f in doc["files"] if f["state"] != "ok"]
    assert [(f["path"], f["state"]) for f in bad] == [("out/m-001/model.pkl", "corrupted")]
    run(own, "status", code=1)
    err = run(own, "promote", "m-001", "--against", "m-002", code=2).stderr
    assert "checksum" in err


def test_run_in_test_mode_leaves_production_alone_and_clean_removes_it(own: Path) -> None:
    production = ["params.yaml", "dvc.lock", "data/rows.csv"]
    production += [p.relative_to(own).as_posix() for p in (own / "out").rglob("*")]
    before = snapshot(own, production)
    first = as_json(own, "run", "--exp", "m-001", "--name", "first")
    assert [(s["stage"], s["status"]) for s in first["stages"]] == [
        ("prepare", "ran"),
        ("fit@m-001", "ran"),
    ]
    routed = own / "artifacts" / "tests" / "first"
    assert (routed / "out" / "m-001" / "model.pkl").is_file()
    assert (routed / "data" / "rows.csv").is_file()
    run(own, "run", "--exp", "m-002", "--name", "second")
    assert snapshot(own, production) == before
    assert not (own / "tests").exists()  # never into a source folder at the top
    plan = as_json(own, "clean", "--keep", "1", "--older-than", "0", "--force")
    assert [d["name"] for d in plan["remove"]] == ["first"] and not plan["skipped"]
    assert not routed.exists() and (own / "artifacts" / "tests" / "second").is_dir()


# (d) top-level outputs, as in DVC's tutorials ---------------------------------------------


def test_tutorial_layout_with_the_whole_repository_as_root(tmp_path: Path) -> None:
    repo = tutorial(tmp_path / "repo", root=".")
    doc = as_json(repo, "status")
    assert doc["ok"] and {a["path"] for a in doc["artifacts"]} == {
        "data/data.xml",
        "data/prepared",
        "data/features",
        "model.pkl",
        "eval/metrics.json",
        "eval/plots",
    }
    assert as_json(repo, "verify")["summary"]["files"] == 8
    (repo / "model.pkl").write_text("corrupted")
    doc = as_json(repo, "verify", code=1)
    assert [(f["path"], f["state"]) for f in doc["files"] if f["state"] != "ok"] == [
        ("model.pkl", "corrupted")
    ]
    assert as_json(repo, "status", code=1)["summary"]["modified"] == 1


def test_nothing_under_the_root_while_outputs_are_elsewhere_is_not_all_ok(
    tmp_path: Path,
) -> None:
    repo = tutorial(tmp_path / "repo", root="artifacts")
    for command in ("status", "verify"):
        result = run(repo, command, code=1)
        assert "all ok" not in result.stdout
        assert "artifacts_root" in result.stderr and "model.pkl" not in result.stdout
        doc = as_json(repo, command, code=1)
        assert not doc["ok"] and "artifacts_root" in doc["warnings"][0]


def test_a_repository_whose_stages_never_ran_is_not_all_ok(tmp_path: Path) -> None:
    repo = tutorial(tmp_path / "repo", root=".", repro=False)
    doc = as_json(repo, "status", code=1)
    assert not doc["ok"] and doc["never_run"] == ["prepare", "featurize", "train", "evaluate"]


# (c) two model families in one repository ---------------------------------------------


def test_two_families_have_independent_ids_champions_and_rollbacks(tmp_path: Path) -> None:
    repo = families(tmp_path / "repo")
    err = run(repo, "list", code=2).stderr
    assert "several registries" in err and "--registry" in err
    assert "unknown registry" in run(repo, "list", "--registry", "nope", code=2).stderr
    ranker = ("--registry", "ranker")
    scorer = ("--registry", "scorer")
    assert [r["id"] for r in as_json(repo, "list", *scorer)["experiments"]] == ["s-01", "s-02"]
    assert all(r["state"] == "built" for r in as_json(repo, "list", *ranker)["experiments"])

    as_json(repo, "promote", "r-002", "--against", "r-001", *ranker)
    as_json(repo, "promote", "r-003", *ranker)  # against the ranker's champion, r-002
    assert "--against" in run(repo, "promote", "s-02", *scorer, code=2).stderr  # no champion
    as_json(repo, "promote", "s-02", "--against", "s-01", *scorer)

    def roles(registry: tuple[str, str]) -> dict[str, str]:
        rows = as_json(repo, "list", *registry)["experiments"]
        return {r["id"]: r["role"] for r in rows if r["role"]}

    assert roles(ranker) == {"r-003": "champion", "r-002": "previous"}
    assert roles(scorer) == {"s-02": "champion"}
    assert as_json(repo, "rollback", *ranker)["to"] == "r-002"
    assert roles(ranker) == {"r-002": "champion"}
    assert roles(scorer) == {"s-02": "champion"}  # the other family is untouched
    assert "no previous champion" in run(repo, "rollback", *scorer, code=2).stderr

    where = Path(run(repo, "where", "champion", *scorer).stdout.strip())
    assert snapshot(where) == snapshot(repo / "scorers" / "s-02")
    where = Path(run(repo, "where", "champion", *ranker).stdout.strip())
    assert snapshot(where) == snapshot(repo / "data" / "web" / "b7" / "dense_eval")
    assert run(repo, "where", "r-001", *ranker).stdout.strip() == str(
        repo / "data" / "web" / "b7" / "bm25_eval"
    )
    events = {
        name: as_json(repo, "history", *flag)["events"]
        for name, flag in (("r", ranker), ("s", scorer))
    }
    assert {e["id"][0] for e in events["r"]} == {"r"} and {e["id"][0] for e in events["s"]} == {"s"}

    assert as_json(repo, "new", "--from", "s-02", *scorer)["id"] == "s-03"
    assert (
        as_json(repo, "new", "--from", "r-001", "-S", "base_model=colbert", *ranker)["id"]
        == "r-004"
    )
    params = load_yaml(repo / "params.yaml")
    assert set(params["scorer"]) == {"s-01", "s-02", "s-03"} and "r-004" in params["ranker"]
    # runs are not per family: a test run of one experiment of each, no --registry needed
    doc = as_json(repo, "run", "--exp", "s-01", "--exp", "r-002", "--name", "both")
    assert {s["stage"]: s["experiment"] for s in doc["stages"]} == {
        "prepare": None,
        "rank@r-002": "r-002",
        "score@s-01": "s-01",
    }


def test_run_in_a_repository_without_dvc_yaml_is_bad_input(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    for mode in ("test", "production"):
        result = run(repo, "run", "--mode", mode, code=2)
        assert "no dvc.yaml" in result.stderr and "Traceback" not in result.stderr


# init in a repository that already has a pipeline ------------------------------------------


def test_init_detects_an_existing_layout_and_writes_only_missing_settings(own: Path) -> None:
    (own / "pyproject.toml").write_text(
        '[project]\nname = "mine"\n\n[tool.artifactctl.registry]\nid_width = 4\n'
    )
    doc = as_json(own, "init")
    assert doc["detected_outputs"] == 3 and not doc["created"]
    assert any("idx, y, yhat" in note for note in doc["notes"])  # columns it cannot map
    assert not (own / "artifacts" / "models").exists()  # no reference tree unless asked
    settings = load_settings(own, environ={})
    assert settings.artifacts_root == "."
    reg = settings.registry
    assert (reg.experiments, reg.id_prefix, reg.model_dir) == ("models", "m-", "out/{id}")
    assert reg.id_width == 4  # an existing value is never changed
    assert reg.predictions == "out/{id}/predictions.csv"
    assert (own / "pyproject.toml").read_text().startswith('[project]\nname = "mine"\n')
    rows = as_json(own, "list")["experiments"]
    assert [r["state"] for r in rows] == ["built", "built"]
    assert not as_json(own, "init")["changed"]  # idempotent
    created = as_json(own, "init", "--scaffold")["created"]
    assert "models/baseline" in created and (own / "models" / "baseline").is_dir()


def test_init_in_a_tutorial_layout_sets_the_whole_repository_as_root(tmp_path: Path) -> None:
    repo = tutorial(tmp_path / "repo", root="artifacts")
    (repo / "pyproject.toml").unlink()
    assert as_json(repo, "init")["settings_added"] == ["artifacts_root"]
    assert load_settings(repo, environ={}).artifacts_root == "."
    assert as_json(repo, "status")["ok"]


# saved runs: under retention in test mode, never staged by git in production --------------


def test_test_mode_saved_runs_are_cleaned_by_retention_like_test_runs(own: Path) -> None:
    from artifactctl.runs.saved import save_run

    save_run({"v": 1}, run_id="r1", mode="test", start=own)  # test name "default"
    save_run({"v": 2}, run_id="r2", mode="test", test_name="later", start=own)
    tests = own / "artifacts" / "tests"
    assert json.loads((tests / "default" / "run.json").read_text())["command"] == "save_run"
    assert as_json(own, "verify")["ok"]
    plan = as_json(own, "clean", "--keep", "1", "--older-than", "0", "--force")
    assert not plan["skipped"] and [d["name"] for d in plan["remove"]] == ["default"]
    assert not (tests / "default").exists() and (tests / "later" / "runs" / "r2").is_dir()


def test_production_saved_runs_are_never_staged_by_git(own: Path) -> None:
    from support import git

    from artifactctl.runs.saved import save_run

    info = save_run({"v": 1}, run_id="p1", mode="production", start=own)
    assert info["artifacts_path"] == "runs/p1"
    status = git(own, "status", "--porcelain", "--untracked-files=all").stdout
    assert status.splitlines() == ["?? runs/.gitignore"]


def test_archive_and_unarchive_one_folder_holding_model_and_results(own: Path) -> None:
    before = snapshot(own, ["params.yaml", "dvc.lock"])
    files = snapshot(own / "out" / "m-001")
    doc = as_json(own, "archive", "m-001", "--reason", "superseded")
    assert doc["moved"] == {"out/m-001": "archive/m-001/model"}
    assert "m-001" not in load_yaml(own / "params.yaml")["models"]
    assert as_json(own, "status")["ok"]
    rows = {r["id"]: r for r in as_json(own, "list")["experiments"]}
    assert rows["m-001"]["state"] == "archived" and rows["m-001"]["metrics"]["rmse"] > 1
    assert as_json(own, "new", "--from", "m-002")["id"] == "m-003"  # m-001 never reused
    run(own, "unarchive", "m-001")
    assert snapshot(own / "out" / "m-001") == files
    assert load_yaml(own / "params.yaml")["models"]["m-001"] == {"seed": 1, "noise": 2.0}
    assert snapshot(own, ["dvc.lock"]) == {"dvc.lock": before["dvc.lock"]}
    assert as_json(own, "verify")["ok"]


def test_load_champion_loads_the_registrys_own_model_file_with_its_own_loader(own: Path) -> None:
    import pickle

    import artifactctl
    from artifactctl.errors import CheckFailed, IntegrityError

    run(own, "promote", "m-002", "--against", "m-001")
    with pytest.raises(CheckFailed, match=r"has no model\.joblib") as refused:
        artifactctl.load_champion(start=own)
    assert "model_file" in (refused.value.hint or "")
    pyproject = own / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "id_width = 3", 'id_width = 3\nmodel_file = "model.pkl"\npreprocessing_file = ""'
        )
    )
    seen: list[bytes] = []

    def loader(handle: object) -> object:
        data = handle.read()  # type: ignore[attr-defined]
        seen.append(data)
        return pickle.loads(data)

    champ = artifactctl.load_champion(start=own, loader=loader)
    assert champ.id == "m-002" and champ.model == {"noise": 0.5} and champ.preprocessing is None
    assert seen == [(own / "out" / "m-002" / "model.pkl").read_bytes()]
    assert champ.read("metrics.json") == (own / "out" / "m-002" / "metrics.json").read_bytes()
    (champ.path / "metrics.json").write_text('{"rmse": 0.0}')  # changed after the load
    with pytest.raises(IntegrityError, match=r"metrics\.json"):
        champ.read("metrics.json")


@pytest.mark.slow
def test_a_promotion_killed_in_one_family_is_completed_in_that_family(tmp_path: Path) -> None:
    from crashsupport import kill_at

    repo = families(tmp_path / "repo")
    kill_at(repo, "promote-ledger", "promote", "s-02", "--against", "s-01", "--registry", "scorer")
    # any later command finishes it, in the scorer's ledger, not in the ranker's
    result = run(repo, "list", "--registry", "ranker")
    assert "recovered an interrupted operation" in result.stderr
    rows = as_json(repo, "list", "--registry", "scorer")["experiments"]
    assert {r["id"]: r["role"] for r in rows if r["role"]} == {"s-02": "champion"}
    assert not any(r["role"] for r in as_json(repo, "list", "--registry", "ranker")["experiments"])
    where = Path(run(repo, "where", "champion", "--registry", "scorer").stdout.strip())
    assert snapshot(where) == snapshot(repo / "scorers" / "s-02")
    assert not (repo / "models" / "production" / "ledger.jsonl").exists()
