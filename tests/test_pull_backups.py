"""Backups of replaced local files live outside DVC's folders; `preserve backups|restore`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from crashsupport import kill_at
from support import artifactctl, dvc, git, init_repo, invoke

DATA = "artifacts/data"
PLAIN = f"{DATA}/a.csv"
REF = f"{DATA}/ref.csv"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A tracked folder with a preserved file, pushed to a local remote and committed."""
    repo = init_repo(tmp_path / "repo", tmp_path / "remote")
    (repo / "pyproject.toml").write_text(f'[tool.artifactctl]\npreserve = ["{REF}"]\n')
    (repo / DATA).mkdir(parents=True)
    (repo / PLAIN).write_text("x,y\n1,2\n")
    (repo / REF).write_text("cluster,avg\nremote,1\n")
    dvc(repo, "add", "-q", DATA)
    dvc(repo, "push", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    return repo


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def ok(repo: Path, *args: str) -> dict:
    result = invoke(repo, *args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_forced_pull_backs_up_outside_the_tracked_folder_and_dvc_stays_clean(repo: Path) -> None:
    mine = b"x,y\nmine,3\n"
    (repo / PLAIN).write_bytes(mine)
    doc = ok(repo, "pull", "--force")
    backup = doc["backups"][PLAIN]
    assert backup.startswith(".artifactctl/backups/") and backup.endswith("/" + PLAIN)
    assert (repo / backup).read_bytes() == mine
    assert not list((repo / DATA).glob("*.local-*"))
    # Nothing DVC or status compares changed: both clean, and git sees nothing new.
    assert invoke(repo, "status").exit_code == 0
    assert "up to date" in dvc(repo, "status").stdout
    assert git(repo, "status", "--porcelain").stdout == ""
    # DVC's checkout deletes unknown files inside the outputs it writes, never this one.
    dvc(repo, "checkout", "-q", "--force")
    assert (repo / backup).read_bytes() == mine
    # A backed-up dvc.yaml or .dvc file is never taken for a stage: .artifactctl is .dvcignored.
    stray = repo / ".artifactctl/backups/20260101T000000Z/sub"
    stray.mkdir(parents=True)
    (stray / "dvc.yaml").write_text("stages: [\n")
    (stray / "x.dvc").write_text("outs: nonsense\n")
    assert "up to date" in dvc(repo, "status").stdout


@pytest.mark.slow
def test_pull_output_names_each_backup_and_how_to_restore(repo: Path) -> None:
    (repo / PLAIN).write_text("x,y\nmine,3\n")
    result = invoke(repo, "pull", "--force")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert f"kept the local copy of {PLAIN} as .artifactctl/backups/" in said
    assert "artifactctl preserve backups" in said


def test_preserve_backups_lists_and_restore_puts_the_local_copy_back(repo: Path) -> None:
    mine = b"cluster,avg\ncurated,7\n"
    (repo / REF).write_bytes(mine)
    doc = ok(repo, "pull", "--prefer-remote", REF)
    assert (repo / REF).read_bytes() == b"cluster,avg\nremote,1\n"

    listing = ok(repo, "preserve", "backups")
    assert listing["folder"] == ".artifactctl/backups"
    [entry] = listing["backups"]
    assert entry["path"] == doc["backups"][REF]
    assert entry["original"] == REF
    assert entry["size"] == len(mine) and entry["md5"] == md5(mine)
    assert entry["replaced_by"] == md5(b"cluster,avg\nremote,1\n")
    assert entry["when"].endswith("Z")
    assert REF in invoke(repo, "preserve", "backups").stdout

    restored = ok(repo, "preserve", "restore", REF)
    assert restored == {
        "schema": "artifactctl.restore/1",
        "backup": entry["path"],
        "original": REF,
        "state": "restored",
        "saved": None,
    }
    assert (repo / REF).read_bytes() == mine
    assert ok(repo, "preserve", "restore", entry["path"])["state"] == "unchanged"


def test_restore_refuses_to_overwrite_a_file_changed_since_the_pull_unless_forced(
    repo: Path,
) -> None:
    (repo / REF).write_text("cluster,avg\ncurated,7\n")
    ok(repo, "pull", "--prefer-remote", REF)
    newer = b"cluster,avg\nedited after the pull,8\n"
    (repo / REF).write_bytes(newer)

    refused = invoke(repo, "preserve", "restore", REF)
    assert refused.exit_code == 2
    assert "refusing to overwrite" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.output
    assert (repo / REF).read_bytes() == newer

    forced = ok(repo, "preserve", "restore", REF, "--force")
    assert forced["state"] == "restored"
    assert (repo / REF).read_text() == "cluster,avg\ncurated,7\n"
    assert (repo / forced["saved"]).read_bytes() == newer  # nothing is lost
    originals = [b["original"] for b in ok(repo, "preserve", "backups")["backups"]]
    assert originals == [REF, REF]


@pytest.mark.slow
def test_restore_of_an_unknown_path_is_one_line_with_a_hint(repo: Path) -> None:
    result = invoke(repo, "preserve", "restore", "artifacts/data/nope.csv")
    assert result.exit_code == 2
    assert "no backup of that path" in result.stderr
    assert "artifactctl preserve backups" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_tampered_backup_manifest_cannot_point_restore_elsewhere(repo: Path) -> None:
    (repo / PLAIN).write_text("x,y\nmine,3\n")
    backup = ok(repo, "pull", "--force")["backups"][PLAIN]
    stamp = Path(backup).parts[2]
    manifest = repo / ".artifactctl/backups" / f"{stamp}.json"
    doc = json.loads(manifest.read_text())
    doc["files"]["../../outside.csv"] = {"replaced_by": "not an md5", "reason": "x"}
    doc["files"][PLAIN]["replaced_by"] = "../../etc"
    manifest.write_text(json.dumps(doc))
    [entry] = ok(repo, "preserve", "backups")["backups"]
    assert entry["original"] == PLAIN and entry["replaced_by"] is None
    assert not (repo.parent / "outside.csv").exists()


@pytest.mark.slow
def test_a_link_in_the_backups_folder_is_never_listed_nor_restored(repo: Path) -> None:
    (repo / PLAIN).write_text("x,y\nmine,3\n")
    backup = repo / ok(repo, "pull", "--force")["backups"][PLAIN]
    secret = repo.parent / "secret.txt"
    secret.write_text("not yours\n")
    (backup.parent / "b.csv").symlink_to(secret)
    assert [b["original"] for b in ok(repo, "preserve", "backups")["backups"]] == [PLAIN]
    result = invoke(repo, "preserve", "restore", f"{DATA}/b.csv")
    assert result.exit_code == 2 and not (repo / DATA / "b.csv").exists()


@pytest.mark.slow
def test_sigkill_after_the_backups_keeps_them_and_the_next_pull_completes(repo: Path) -> None:
    mine = b"x,y\nmine,3\n"
    (repo / PLAIN).write_bytes(mine)
    kill_at(repo, "pull-backups", "pull", "--force")
    [made] = [p for p in (repo / ".artifactctl/backups").rglob("a.csv")]
    assert made.read_bytes() == mine  # durable before the workspace is touched
    assert (repo / PLAIN).read_bytes() == mine

    nxt = artifactctl(repo, "status")
    assert "recovered an interrupted operation" in " ".join(nxt.stderr.split())
    assert not any((repo / ".dvc/tmp/artifactctl/journal").iterdir())
    done = artifactctl(repo, "pull", "--force", "--json")
    assert done.returncode == 0, done.stderr
    assert (repo / PLAIN).read_text() == "x,y\n1,2\n"
    listing = json.loads(artifactctl(repo, "preserve", "backups", "--json").stdout)
    assert [b["md5"] for b in listing["backups"]] == [md5(mine), md5(mine)]
    assert artifactctl(repo, "status").returncode == 0
