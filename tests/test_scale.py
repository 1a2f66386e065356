"""status on a repository with 20,000 tracked files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import dvc, init_repo, invoke


@pytest.mark.slow
def test_status_handles_twenty_thousand_tracked_files(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shards = repo / "artifacts" / "data" / "shards"
    for i in range(20_000):
        folder = shards / f"{i // 1000:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"part-{i:05d}.bin").write_bytes(i.to_bytes(4, "little") * 16)
    dvc(repo, "add", "-q", "artifacts/data/shards")

    doc = json.loads(invoke(repo, "status", "--json").stdout)
    (entry,) = doc["artifacts"]
    assert entry["files"] == 20_000 and entry["state"] == "ok"

    (shards / "07" / "part-07123.bin").write_bytes(b"changed")
    result = invoke(repo, "status", "--json")
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["artifacts"]
    assert entry["state"] == "modified" and entry["detail"] == "1 changed or missing file(s)"
