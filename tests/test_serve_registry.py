"""One `artifactctl serve` for every model family of a repository, on a real uvicorn.

A request names its family with ``?registry=NAME``; `--registry` sets the one a request
that names none reads. Links in the answers stay in the family they came from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from layouts import families
from servesupport import serving
from support import artifactctl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_families(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ranker (r-001..r-003, no champion) and the scorer (champion s-02)."""
    repo = families(tmp_path_factory.mktemp("families") / "repo")
    promoted = artifactctl(repo, "promote", "s-02", "--against", "s-01", "--registry", "scorer")
    assert promoted.returncode == 0, promoted.stderr
    return repo


def test_one_server_answers_for_every_family(two_families: Path, tmp_path: Path) -> None:
    repo = two_families
    proc = artifactctl(repo, "serve", "--port", "0", "--registry", "nope", timeout=60)
    assert proc.returncode == 2 and "unknown registry 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr

    with serving(repo, tmp_path / "server.log") as server:
        listed = server.get_json("/api/registries")
        assert listed["schema"] == "artifactctl.registries/1"
        assert [(r["name"], r["champion"]) for r in listed["registries"]] == [
            ("ranker", None),
            ("scorer", "s-02"),
        ]
        for name, ids in (("scorer", ["s-01", "s-02"]), ("ranker", ["r-001", "r-002", "r-003"])):
            doc = server.get_json(f"/api/experiments?registry={name}")
            assert [e["id"] for e in doc["experiments"]] == ids
        assert server.request("/api/champion?registry=ranker").status == 404  # none yet
        champ = server.get_json("/api/champion?registry=scorer")
        assert champ["id"] == "s-02"
        for entry in champ["files"]:  # each link stays in the scorer's registry
            assert entry["url"].endswith("?registry=scorer"), entry["url"]
            got = server.request(entry["url"])
            assert got.status == 200 and hashlib.md5(got.body).hexdigest() == entry["md5"]
        shown = server.get_json("/api/experiments/r-002?registry=ranker")
        assert shown["downloads"] and all(
            d["url"].endswith("?registry=ranker") for d in shown["downloads"]
        )
        # no family named and no default: the question is ambiguous (400, naming them)
        ambiguous = server.request("/api/champion")
        assert ambiguous.status == 400
        assert "ranker, scorer" in ambiguous.json()["error"]
        unknown = server.request("/api/champion?registry=nope")
        assert unknown.status == 404 and "nope" in unknown.json()["error"]
        # what covers every family needs none named
        assert server.get_json("/api/health")["ok"] is True
        assert server.get_json("/api/status")["schema"] == "artifactctl.status/1"
        page = server.request("/")  # a person gets the first family and the others' links
        assert page.status == 200 and b'href="/?registry=scorer"' in page.body

    with serving(repo, tmp_path / "scorer.log", "--registry", "scorer") as server:
        assert server.get_json("/api/champion")["id"] == "s-02"
        ranked = server.get_json("/api/experiments?registry=ranker")["experiments"]
        assert [e["id"] for e in ranked] == ["r-001", "r-002", "r-003"]
