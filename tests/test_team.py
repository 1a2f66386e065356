"""A team: clones of one bare git origin sharing one DVC remote (issue 14, invariant 10)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import dvc, git, invoke, snapshot
from syncsupport import clone, commit_all

import artifactctl

PROD = "artifacts/models/production"
V2_006 = "artifacts/models/candidates/v2-006"
V2_002 = "artifacts/models/candidates/v2-002"

pytestmark = pytest.mark.slow


def ok(repo: Path, *args: str) -> str:
    result = invoke(repo, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def origin(pipeline_repo: Path, tmp_path: Path) -> Path:
    """A bare origin holding the reproduced pipeline; pipeline_repo is the first clone."""
    ok(pipeline_repo, "push")
    commit_all(pipeline_repo, "reproduced")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(pipeline_repo), str(bare))
    git(pipeline_repo, "remote", "add", "origin", str(bare))
    git(pipeline_repo, "fetch", "-q", "origin")
    git(pipeline_repo, "branch", "-q", "--set-upstream-to=origin/main")
    return bare


def share(repo: Path, message: str) -> None:
    """What a teammate does after registry work: push the objects, commit, push git."""
    ok(repo, "push")
    commit_all(repo, message)
    git(repo, "push", "-q", "origin", "HEAD:main")


def retrain(repo: Path) -> None:
    """v2-006 retrained with other params: its workspace model is no longer the champion."""
    params = repo / "params.yaml"
    text = params.read_text()
    block = re.search(r"  v2-006:\n(?:    .*\n)+", text)
    assert block is not None
    params.write_text(
        text.replace(block[0], block[0].replace("n_estimators: 200", "n_estimators: 20"))
    )
    dvc(repo, "repro", "-q", "evaluate@v2-006")


def test_fresh_clone_pulls_the_champion_of_an_experiment_since_retrained(
    pipeline_repo: Path, origin: Path, tmp_path: Path
) -> None:
    ok(pipeline_repo, "promote", "v2-006")
    promoted = snapshot(pipeline_repo / PROD / "champion_current")
    retrain(pipeline_repo)
    assert snapshot(pipeline_repo / V2_006) != promoted
    share(pipeline_repo, "promote v2-006, retrain it")

    mate = clone(origin, tmp_path / "mate", tmp_path / "remote")
    doc = json.loads(ok(mate, "pull", "--json"))
    assert doc["registry"]["missing"] == []
    assert Path(ok(mate, "where", "champion").strip()) == mate / PROD / "champion_current"
    assert snapshot(mate / PROD / "champion_current") == promoted
    loaded = artifactctl.load_champion(start=mate)
    assert loaded.id == "v2-006"


def test_unarchive_in_a_clone_without_the_archived_folders_fetches_them(
    pipeline_repo: Path, origin: Path, tmp_path: Path
) -> None:
    model = snapshot(pipeline_repo / V2_002)
    experiment = snapshot(pipeline_repo / "artifacts/experiments/v2-002")
    ok(pipeline_repo, "archive", "v2-002", "--reason", "superseded")
    share(pipeline_repo, "archive v2-002")

    mate = clone(origin, tmp_path / "mate", tmp_path / "remote")
    ok(mate, "pull")
    assert not (mate / "artifacts/archive/v2-002/model").exists()
    ok(mate, "unarchive", "v2-002")
    assert snapshot(mate / V2_002) == model
    assert snapshot(mate / "artifacts/experiments/v2-002") == experiment
    status = json.loads(invoke(mate, "status", "--json").stdout)
    assert {a["state"] for a in status["artifacts"]} == {"ok"}, status


def test_unarchive_refuses_before_changing_anything_when_the_files_are_nowhere(
    pipeline_repo: Path, origin: Path, tmp_path: Path
) -> None:
    ok(pipeline_repo, "archive", "v2-002", "--reason", "superseded")
    commit_all(pipeline_repo, "archive v2-002, objects not pushed")
    git(pipeline_repo, "push", "-q", "origin", "HEAD:main")

    mate = clone(origin, tmp_path / "mate", tmp_path / "empty-remote")
    before = snapshot(
        mate,
        [
            p.relative_to(mate).as_posix()
            for p in mate.rglob("*")
            if ".git" not in p.parts and p.is_file()
        ],
    )
    result = invoke(mate, "unarchive", "v2-002")
    assert result.exit_code == 3, result.output
    assert "artifactctl push" in result.stderr
    after = snapshot(mate, list(before))
    assert after == before
    assert "v2-002" not in (mate / "params.yaml").read_text()


def champion_in(repo: Path) -> tuple[str, str | None]:
    doc = json.loads(ok(repo, "list", "--json"))
    roles = {r["id"]: r.get("role") for r in doc["experiments"]}
    current = [i for i, r in roles.items() if r == "champion"]
    previous = [i for i, r in roles.items() if r == "previous"]
    return current[0], (previous[0] if previous else None)


def test_concurrent_promotions_in_two_clones_merge_to_the_same_champion(
    pipeline_repo: Path, origin: Path, tmp_path: Path
) -> None:
    ok(pipeline_repo, "promote", "v2-006")
    ok(pipeline_repo, "promote", "v2-002", "--force", "--reason", "second")
    share(pipeline_repo, "promote v2-006, then v2-002")
    mate = clone(origin, tmp_path / "mate", tmp_path / "remote")
    ok(mate, "pull")
    # Concurrently: one clone promotes v2-001 (forced), the other rolls back.
    ok(pipeline_repo, "promote", "v2-001", "--force", "--reason", "ours")
    ok(mate, "rollback", "--reason", "theirs")
    share(pipeline_repo, "promote v2-001")
    ok(mate, "push")
    commit_all(mate, "rollback")
    git(mate, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    git(mate, "push", "-q", "origin", "HEAD:main")
    git(pipeline_repo, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")

    assert champion_in(mate) == champion_in(pipeline_repo)
    for repo in (pipeline_repo, mate):
        events = json.loads(ok(repo, "history", "--json"))["events"]
        kinds = [(e["event"], e.get("reason")) for e in events]
        assert ("promote", "ours") in kinds and ("rollback", "theirs") in kinds, kinds
        assert len(kinds) == 4, kinds
        ok(repo, "where", "champion")
    assert snapshot(mate / PROD / "champion_current") == snapshot(
        pipeline_repo / PROD / "champion_current"
    )


def said(repo: Path, *args: str) -> str:
    result = invoke(repo, *args)
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    return " ".join(result.stderr.split())


def test_commands_warn_when_a_merge_leaves_the_local_champion_copy_stale(
    pipeline_repo: Path, origin: Path, tmp_path: Path
) -> None:
    ok(pipeline_repo, "promote", "v2-006")
    share(pipeline_repo, "promote v2-006")
    mate = clone(origin, tmp_path / "mate", tmp_path / "remote")
    ok(mate, "pull")
    assert "stale" not in said(mate, "where", "champion")  # a first build is no warning
    assert "stale" not in said(mate, "status")

    # A teammate promotes v2-002; this clone merges the ledger but keeps its old copy.
    ok(pipeline_repo, "promote", "v2-002", "--force", "--reason", "better")
    share(pipeline_repo, "promote v2-002")
    git(mate, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    for args in (("status",), ("list",), ("list", "--json")):
        text = said(mate, *args)
        assert (
            "the local champion copy is stale: the ledger says v2-002, but "
            "artifacts/models/production/champion_current/ holds v2-006" in text
        ), (args, text)
        assert "hint: `artifactctl where champion` rebuilds it from the ledger" in text, text
    json.loads(invoke(mate, "list", "--json").stdout)  # stdout stays JSON

    with pytest.warns(artifactctl.StaleChampionWarning, match="ledger says v2-002"):
        loaded = artifactctl.load_champion(start=mate)
    assert loaded.id == "v2-002"
    assert "stale" not in said(mate, "status")
    assert snapshot(mate / PROD / "champion_current") == snapshot(
        pipeline_repo / PROD / "champion_current"
    )

    # Other bytes under the right ID (a hand edit): warned too; `where` rebuilds it.
    (mate / PROD / "champion_current" / "metadata.json").write_text("{}\n")
    assert "holds other files than v2-002's" in said(mate, "status")
    text = said(mate, "where", "champion")
    assert "stale" in text and "rebuilt artifacts/models/production/champion_current/" in text
    assert "stale" not in said(mate, "list")
    assert snapshot(mate / PROD / "champion_current") == snapshot(
        pipeline_repo / PROD / "champion_current"
    )
