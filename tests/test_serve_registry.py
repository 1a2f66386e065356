"""`artifactctl serve --registry NAME`: one model family of several, on a real uvicorn."""

from __future__ import annotations

from pathlib import Path

import pytest
from layouts import families
from servesupport import serving
from support import artifactctl


@pytest.mark.slow
def test_serve_one_family_of_several(tmp_path: Path) -> None:
    repo = families(tmp_path / "repo")
    proc = artifactctl(repo, "serve", "--port", "0", timeout=60)
    assert proc.returncode == 2 and "several registries" in proc.stderr
    assert "--registry" in proc.stderr and "Traceback" not in proc.stderr
    proc = artifactctl(repo, "serve", "--port", "0", "--registry", "nope", timeout=60)
    assert proc.returncode == 2 and "unknown registry 'nope'" in proc.stderr

    promoted = artifactctl(repo, "promote", "s-02", "--against", "s-01", "--registry", "scorer")
    assert promoted.returncode == 0, promoted.stderr
    for name, ids in (("scorer", ["s-01", "s-02"]), ("ranker", ["r-001", "r-002", "r-003"])):
        with serving(repo, tmp_path / f"{name}.log", "--registry", name) as server:
            doc = server.get_json("/api/experiments")
            assert [e["id"] for e in doc["experiments"]] == ids
            answer = server.request("/api/champion")
            if name == "scorer":
                assert answer.status == 200 and answer.json()["id"] == "s-02"
            else:
                assert answer.status == 404  # the ranker has no champion
            assert server.request("/").status == 200
