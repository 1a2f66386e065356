"""Issue 12, the destructive commands: attacks 5, 6, 7 and 10, each reproduced and contained.

5. a forced refresh / production run destroyed a hand-edited preserved file;
6. ``clean --cache --force`` deleted the champion's objects in a fresh clone;
7. with ``artifacts_root = "."`` ``clean --force`` deleted git-tracked ``tests/fixtures/``;
10. atomic writes made every file they wrote 0600.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from support import BIN, dvc, git, init_repo, invoke, sh

from artifactctl.dvc.tracked import cache_object
from artifactctl.hashing import dir_md5, md5_file
from artifactctl.project import find_repo
from artifactctl.runs import policy

EDITED_MODEL = "artifacts/models/baseline/e-2/model.txt"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# 5. refresh / run --force destroyed a hand-edited preserved file in a tracked folder


@pytest.mark.parametrize(
    "command",
    [
        ["refresh", "--exp", "e-2", "--force"],
        ["run", "--mode", "production", "--exp", "e-2", "--force"],
    ],
)
def test_a_forced_production_run_backs_up_an_edited_preserved_file(
    tiny: Path, command: list[str]
) -> None:
    assert invoke(tiny, "preserve", "add", EDITED_MODEL).exit_code == 0
    edited = b"curated by hand\n"
    (tiny / EDITED_MODEL).write_bytes(edited)
    result = invoke(tiny, *command, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [b["path"] for b in report["backups"]] == [EDITED_MODEL]
    backup = tiny / report["backups"][0]["backup"]
    assert backup.read_bytes() == edited  # the edited content survives, outside the folder
    assert not report["backups"][0]["backup"].startswith("artifacts/models/baseline/e-2/")
    # one place for every backup: preserve lists it beside pull's, and can put it back
    listed = json.loads(invoke(tiny, "preserve", "backups", "--json").stdout)["backups"]
    assert [(b["path"], b["original"]) for b in listed] == [
        (report["backups"][0]["backup"], EDITED_MODEL)
    ]
    assert (tiny / EDITED_MODEL).read_text() == "seed=1\nvalue=2\n"  # the stage wrote its own
    # the log names the content actually replaced: the edited folder, not dvc.lock's record
    logged = {r["path"]: r for r in policy.read_records(find_repo(tiny))}
    record = logged["artifacts/models/baseline/e-2"]
    assert record["md5_before"] == dir_md5([("model.txt", _md5(edited))])
    assert record["md5_after"] == dir_md5([("model.txt", _md5(b"seed=1\nvalue=2\n"))])


def test_an_unedited_preserved_file_restorable_from_the_cache_is_not_backed_up(
    tiny: Path,
) -> None:
    assert invoke(tiny, "preserve", "add", EDITED_MODEL).exit_code == 0
    result = invoke(tiny, "refresh", "--exp", "e-2", "--force", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["backups"] == []
    assert not list((tiny / "artifacts/models/baseline/e-2").glob("*.local-*"))


def test_a_refused_production_run_makes_no_backup(tiny: Path) -> None:
    assert invoke(tiny, "preserve", "add", EDITED_MODEL).exit_code == 0
    (tiny / EDITED_MODEL).write_text("curated by hand\n")
    result = invoke(tiny, "refresh", "--exp", "e-2")
    assert result.exit_code == 1
    assert (tiny / EDITED_MODEL).read_text() == "curated by hand\n"
    assert not list((tiny / "artifacts/models/baseline/e-2").glob("*.local-*"))


# 6. clean --cache --force deleted the champion's objects when its copies were absent


PROD = "artifacts/models/production"


def test_clean_cache_keeps_the_champions_objects_in_a_fresh_clone(pipeline_repo: Path) -> None:
    repo = pipeline_repo
    assert invoke(repo, "promote", "v2-006").exit_code == 0
    files = json.loads((repo / PROD / "champion.json").read_text())["current"]["files"]
    # The candidate is retrained since: the champion's bytes are named by the ledger only.
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.3"))
    dvc(repo, "repro", "-q", "train@v2-006")
    model = repo / "artifacts/models/candidates/v2-006/model.joblib"
    assert md5_file(model) != files["model.joblib"]
    # A fresh clone has no champion copies (git-ignored) and no pointer.
    for name in ("champion_current", "champion_previous"):
        shutil.rmtree(repo / PROD / name, ignore_errors=True)
    (repo / PROD / "champion.json").unlink()

    result = invoke(repo, "clean", "--cache", "--force", "--json")
    assert result.exit_code == 0, result.output
    removed = {o["md5"] for o in json.loads(result.stdout)["unused"]}
    assert not removed & set(files.values())
    for md5 in files.values():
        assert cache_object(repo / ".dvc/cache", md5).is_file()

    where = invoke(repo, "where", "champion")
    assert where.exit_code == 0, where.output
    rebuilt = Path(where.stdout.strip())
    assert {rel: md5_file(rebuilt / rel) for rel in files} == files


# 7. with artifacts_root = ".", clean --force deleted the git-tracked tests/fixtures/data/


def test_clean_with_root_dot_never_deletes_the_projects_own_tests(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    # the default tests_dir (artifacts/tests) never meets a source folder; a user may still
    # point it at one, and clean must then leave the project's own files alone
    (repo / "pyproject.toml").write_text(
        '[tool.artifactctl]\nartifacts_root = "."\ntests_dir = "tests"\n'
    )
    old = "2020-01-01T00:00:00Z"
    fixture = repo / "tests" / "fixtures"
    (fixture / "data").mkdir(parents=True)
    (fixture / "data" / "rows.csv").write_text("a,b\n1,2\n")
    # even a fixture that is a perfect run.json is git-tracked, so it stays
    manifest = {"schema": "artifactctl.run/1", "name": "fixtures", "mode": "test", "created": old}
    (fixture / "run.json").write_text(json.dumps(manifest))
    (repo / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    (repo / "tests" / "helpers").mkdir()
    (repo / "tests" / "helpers" / "util.py").write_text("X = 1\n")  # untracked, no run.json
    git(repo, "add", "pyproject.toml", "tests/fixtures", "tests/test_x.py")
    git(repo, "commit", "-qm", "the project's own tests")
    for name in ("test_20200101_000000_aaaaaa", "test_20200102_000000_bbbbbb"):
        run = repo / "tests" / name
        run.mkdir()
        (run / "out.txt").write_text("x\n")
        (run / "run.json").write_text(json.dumps({**manifest, "name": name, "created": old}))

    result = invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--force", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [d["name"] for d in plan["remove"]] == ["test_20200101_000000_aaaaaa"]
    skipped = {s["name"]: s["reason"] for s in plan["skipped"]}
    assert "git-tracked" in skipped["fixtures"]
    assert "no run.json" in skipped["helpers"]
    assert "test_x.py" in skipped
    assert git(repo, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert (fixture / "data" / "rows.csv").read_text() == "a,b\n1,2\n"
    assert (repo / "tests" / "helpers" / "util.py").is_file()
    assert not (repo / "tests" / "test_20200101_000000_aaaaaa").exists()


# 10. atomic writes made every file they wrote 0600 and tightened existing ones


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_keep_their_mode_and_new_ones_honour_the_umask(
    pipeline_repo: Path, umask: int
) -> None:
    repo = pipeline_repo
    (repo / "params.yaml").chmod(0o640)  # an existing file keeps its mode, whatever the umask

    def run(*args: str) -> None:
        proc = sh(
            "sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', BIN / "artifactctl", *args, cwd=repo
        )
        assert proc.returncode == 0, proc.stderr

    run("new", "--model", "ridge")
    run("promote", "v2-006")
    run("run", "--exp", "v2-001", "-n", "modes")
    new = 0o666 & ~umask
    assert _mode(repo / "params.yaml") == 0o640
    assert "v2-007" in (repo / "params.yaml").read_text()
    written = [
        f"{PROD}/ledger.jsonl",
        f"{PROD}/champion.json",
        "artifacts/tests/modes/run.json",
        "artifacts/tests/modes/models/baseline/v2-001/model.joblib",
        "artifacts/tests/modes/experiments/v2-001/predictions.csv",
        "artifacts/tests/modes/data/train.csv",
    ]
    assert {rel: oct(_mode(repo / rel)) for rel in written} == {rel: oct(new) for rel in written}
    # an existing ledger keeps its mode on the next append; archive records are new files
    (repo / PROD / "ledger.jsonl").chmod(0o660)
    run("archive", "v2-002", "--reason", "modes")
    assert _mode(repo / PROD / "ledger.jsonl") == 0o660
    assert _mode(repo / "params.yaml") == 0o640
    assert _mode(repo / "artifacts/archive/v2-002/archived.json") == new


# Numbers that are not numbers: --older-than and the settings that gate or wait


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e400"])
def test_clean_refuses_an_older_than_that_is_not_a_finite_day_count(
    tmp_path: Path, value: str
) -> None:
    repo = init_repo(tmp_path / "repo")
    result = invoke(repo, "clean", f"--older-than={value}")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert "--older-than must be a finite number" in lines[0] and len(lines) <= 2
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    "body",
    [
        "[tool.artifactctl]\nlock_timeout = nan\n",
        "[tool.artifactctl.retention]\nmax_age_days = nan\n",
        "[tool.artifactctl.promotion]\nmin_improvement_relative = nan\n",
    ],
)
def test_nan_settings_are_refused_by_the_commands(tmp_path: Path, body: str) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "pyproject.toml").write_text(body)
    for command in (["clean"], ["list"]):
        result = invoke(repo, *command)
        assert result.exit_code == 2, result.output
        assert "internal error" not in result.stderr
        assert "pyproject.toml" in result.stderr or "nan" in result.stderr.lower()
