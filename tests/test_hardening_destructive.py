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
from support import dvc, git, init_repo, invoke
from test_run import DVC_YAML, PARAMS, STAGE_PY

from artifactctl.hashing import dir_md5
from artifactctl.project import find_repo
from artifactctl.runs import policy

EDITED_MODEL = "artifacts/models/baseline/e-2/model.txt"


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = init_repo(tmp_path_factory.mktemp("tiny") / "repo")
    (root / "stage.py").write_text(STAGE_PY)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(PARAMS)
    (root / ".gitignore").write_text("/artifacts/tests/\n")
    dvc(root, "repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tiny pipeline")
    return root


@pytest.fixture
def tiny(tiny_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(tiny_template, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


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
