"""Test runs of a model family with its own tests folder (``registries.NAME.tests_dir``).

The ranker's artifacts live under its home ``data/web/b7/``; its test copies go to
``data/web/b7/tests/<name>/``, everything else to the global ``artifacts/tests/<name>/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layouts import families
from support import git, invoke, snapshot

from artifactctl.config import load_settings
from artifactctl.errors import SettingsError
from artifactctl.project import Project
from artifactctl.runs.context import Context
from artifactctl.scaffold import gitignore_block

FAMILY = Path("data/web/b7/tests")
GLOBAL = Path("artifacts/tests")


def run(repo: Path, *args: str, code: int = 0) -> object:
    result = invoke(repo, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def as_json(repo: Path, *args: str, code: int = 0) -> dict:
    return json.loads(run(repo, *args, "--json", code=code).stdout)


def test_context_routes_a_family_artifact_under_its_own_tests_folder(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.artifactctl]\nartifacts_root = "."\n'
        "[tool.artifactctl.registries.ranker]\n"
        'fields = {source = "web", build = "b7"}\ntests_dir = "data/{source}/{build}/tests"\n'
    )
    project = Project(tmp_path, load_settings(tmp_path))
    ctx = Context(project, "test", "t1")
    assert ctx.path("data/web/b7/bm25_eval/m.pkl") == tmp_path / FAMILY / "t1/bm25_eval/m.pkl"
    assert ctx.path("data/rows.csv") == tmp_path / GLOBAL / "t1/data/rows.csv"
    assert ctx.input_path("data/web/b7/x.csv") == tmp_path / "data/web/b7/x.csv"
    prod = Context(project, "production")
    assert prod.path("data/web/b7/bm25_eval/m.pkl") == tmp_path / "data/web/b7/bm25_eval/m.pkl"
    assert project.every_tests_dir() == [tmp_path / GLOBAL, tmp_path / FAMILY]
    block = gitignore_block(project)
    assert "/artifacts/tests/\n" in block and "/data/web/b7/tests/\n" in block


@pytest.mark.parametrize(
    ("tests_dir", "fields", "message"),
    [
        ("/abs/tests", "{}", "relative path"),
        ("data/../../tests", "{}", "relative path"),
        ("data/{nope}/tests", '{source = "web"}', "{nope}"),
        ("data/{source}/tests", '{source = ".."}', "fields.source"),
        ("data/{source}/tests", '{source = "a/b"}', "fields.source"),
        ("tests", "{}", "below a folder"),
        ("data/{id}/tests", "{}", "{id}"),
        ("artifacts/tests/ranker", "{}", "inside tests_dir"),
        ("artifacts", "{}", "below a folder"),
    ],
)
def test_a_bad_family_tests_dir_is_one_settings_line(
    tmp_path: Path, tests_dir: str, fields: str, message: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.artifactctl.registries.ranker]\nfields = {fields}\ntests_dir = {tests_dir!r}\n"
    )
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path, environ={})
    text = str(err.value)
    assert message in text and "\n" not in text and "registries.ranker.tests_dir" in text


@pytest.mark.slow
def test_a_test_run_of_two_families_uses_each_tests_folder(tmp_path: Path) -> None:
    repo = families(tmp_path / "repo", ranker_tests="data/{source}/{build}/tests")
    # a git-tracked folder in the family's tests folder: never a run, never removed
    (repo / FAMILY / "tracked").mkdir(parents=True)
    (repo / FAMILY / "tracked" / "note.txt").write_text("mine\n")
    git(repo, "add", "data/web/b7/tests/tracked/note.txt")
    git(repo, "commit", "-qm", "tracked")
    production = ["params.yaml", "dvc.lock", "dvc.yaml", "data/rows.csv"]
    for top in ("data/web/b7", "scorers"):
        production += [
            p.relative_to(repo).as_posix()
            for p in (repo / top).rglob("*")
            if "tests" not in p.relative_to(repo).parts
        ]
    before = snapshot(repo, production)

    doc = as_json(repo, "run", "--exp", "s-01", "--exp", "r-002", "-n", "both")
    assert {s["status"] for s in doc["stages"]} == {"ran"}, doc
    assert doc["folders"] == ["artifacts/tests/both", "data/web/b7/tests/both"]
    family, glob = repo / FAMILY / "both", repo / GLOBAL / "both"
    assert (family / "dense_eval" / "model.pkl").is_file()
    assert (glob / "scorers" / "s-01" / "model.pkl").is_file()
    assert (glob / "data" / "rows.csv").is_file()
    assert not (glob / "data" / "web").exists()
    manifest = json.loads((family / "run.json").read_text())
    assert set(manifest["files"]) == {
        "dense_eval/model.pkl",
        "dense_eval/predictions.csv",
        "dense_eval/metrics.json",
    }
    assert snapshot(repo, production) == before

    # the same name again replaces the run in each folder; a run of the scorer alone
    # leaves no folder in the ranker's tests folder
    (family / "stale.txt").write_text("old")
    as_json(repo, "run", "--exp", "r-002", "-n", "both")
    assert not (family / "stale.txt").exists() and (family / "run.json").is_file()
    doc = as_json(repo, "run", "--exp", "s-02", "-n", "scorer-only")
    assert doc["folders"] == ["artifacts/tests/scorer-only"]
    assert not (repo / FAMILY / "scorer-only").exists()
    assert snapshot(repo, production) == before

    # verify checks the files of the run's folder in the family's tests folder too
    assert as_json(repo, "verify")["ok"]
    (family / "dense_eval" / "model.pkl").write_bytes(b"corrupt")
    doc = as_json(repo, "verify", code=1)
    assert "data/web/b7/tests/both/dense_eval/model.pkl" in json.dumps(doc)
    as_json(repo, "run", "--exp", "r-002", "-n", "both")

    shown = run(repo, "show-run", "both").stdout
    assert "both" in shown

    # one retention over all runs: the newest (scorer-only) is kept, "both" goes from
    # each folder; never the git-tracked folder
    as_json(repo, "run", "--exp", "s-02", "-n", "scorer-only")
    plan = as_json(repo, "clean", "--keep", "0", "--older-than", "0")
    assert sorted(d["path"] for d in plan["remove"]) == [
        "artifacts/tests/both",
        "data/web/b7/tests/both",
    ]
    plan = as_json(repo, "clean", "--keep", "0", "--older-than", "0", "--force")
    assert sorted(d["path"] for d in plan["remove"]) == [
        "artifacts/tests/both",
        "data/web/b7/tests/both",
    ]
    assert (repo / GLOBAL / "scorer-only").is_dir()
    assert any(s["name"] == "tracked" for s in plan["skipped"])
    assert not family.exists() and not glob.exists()
    assert (repo / FAMILY / "tracked" / "note.txt").read_text() == "mine\n"
    assert snapshot(repo, production) == before


@pytest.mark.slow
def test_a_tests_folder_inside_a_dvc_output_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    # the ranker's output data/web/b7/dense_eval is one DVC-tracked folder: test copies in it
    # would be deleted by `dvc repro` and make status call the output modified
    repo = families(tmp_path / "repo", ranker_tests="data/{source}/{build}/dense_eval/tests")
    output = repo / "data/web/b7/dense_eval"
    before = snapshot(repo, [p.relative_to(repo).as_posix() for p in output.rglob("*")])
    result = run(repo, "run", "--exp", "r-002", "-n", "inside", code=2)
    assert "inside the DVC output data/web/b7/dense_eval" in result.stderr
    assert "hint:" in result.stderr
    assert not (output / "tests").exists() and not (repo / GLOBAL / "inside").exists()
    assert snapshot(repo, [p.relative_to(repo).as_posix() for p in output.rglob("*")]) == before
