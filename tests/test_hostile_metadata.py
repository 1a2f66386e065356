"""Generated hostile metadata documents against the commands that read them (invariant 8).

Hypothesis writes ledger lines, archived.json, champion.json, run.json, manifest.json,
dvc.lock entries and settings full of absolute paths, '..', links' names, control and bidi
characters, wrong types and deep nesting, into one reproduced repository with a sentinel
folder beside it. Every command must end with exit 0, 1, 2 or 3, never "internal error",
within a time bound (SIGALRM), and the sentinel must stay byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import invoke, snapshot

pytestmark = pytest.mark.slow

PROD = "artifacts/models/production"
SECONDS = 120  # per command: a hang fails the example instead of the suite


def _hostile_strings(victim: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                victim,
                f"{victim}/keep.txt",
                "../victim",
                "../../victim/keep.txt",
                "a/../../../victim",
                "..",
                ".",
                "",
                "/",
                "v2-006",
                "candidates",
                "model.joblib",
                "a\u2028b",
                "a\x00b",
                "\u202ev2-006",
                "v2-006\u200b",
                "-rf",
                "x" * 300,
                "d41d8cd98f00b204e9800998ecf8427e",
            ]
        ),
        st.text(max_size=12),
    )


def _values(victim: str) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        _hostile_strings(victim),
        st.integers(min_value=-5, max_value=2**70),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(_hostile_strings(victim), inner, max_size=3),
        ),
        max_leaves=6,
    )


@contextlib.contextmanager
def _bounded(seconds: int) -> Iterator[None]:
    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a command did not finish within {seconds}s (waiting on a FIFO?)")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def hostile_repo(built_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from support import point_remote

    base = tmp_path_factory.mktemp("hostile")
    repo = base / "repo"
    shutil.copytree(built_pipeline, repo, symlinks=True)
    point_remote(repo, base / "remote")
    assert invoke(repo, "promote", "v2-006").exit_code == 0
    assert invoke(repo, "archive", "v2-002", "--reason", "old").exit_code == 0
    run = repo / "artifacts/tests/t1"
    assert invoke(repo, "run", "-n", "t1", "--exp", "v2-001").exit_code in (0, 1)
    assert (run / "run.json").is_file()
    victim = base / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "keep.txt").write_text("precious\n")
    (victim / "sub" / "model.joblib").write_text("precious too\n")
    return repo


def _check(repo: Path, *args: str) -> None:
    with _bounded(SECONDS):
        result = invoke(repo, *args)
    assert result.exit_code in (0, 1, 2, 3), (args, result.stderr)
    assert "internal error" not in result.stderr, (args, result.stderr)


# The documents: where each lives, how hypothesis fills it, which commands read it.
def _documents(victim: str) -> dict[str, tuple[str, st.SearchStrategy[Any], list[list[str]]]]:
    v = _values(victim)
    s = _hostile_strings(victim)
    ledger_event = st.fixed_dictionaries(
        {"event": st.sampled_from(["promote", "rollback", "archive", "new"]), "id": v},
        optional={"phase": v, "files": st.dictionaries(s, v, max_size=3), "event_id": v},
    )
    return {
        "ledger": (
            f"{PROD}/ledger.jsonl",
            st.lists(ledger_event, min_size=1, max_size=3),
            [["history"], ["list"], ["where", "champion"], ["where", "previous"]],
        ),
        "archived": (
            "artifacts/archive/v2-002/archived.json",
            st.fixed_dictionaries(
                {"id": st.one_of(st.just("v2-002"), v), "phase": v},
                optional={"from": st.dictionaries(st.sampled_from(["model", "experiment"]), v)},
            ),
            [["list"], ["unarchive", "v2-002"], ["show", "v2-002"]],
        ),
        "champion": (f"{PROD}/champion.json", v, [["where", "champion"], ["status"]]),
        "run": (
            "artifacts/tests/t1/run.json",
            st.fixed_dictionaries({"name": v, "created": v, "files": v}),
            [["verify"], ["show-run", "t1"], ["clean"]],
        ),
        "manifest": (
            "artifacts/tests/t1/runs/r1/manifest.json",
            st.fixed_dictionaries({"run_id": v, "files": st.dictionaries(s, v, max_size=3)}),
            [["verify"], ["show-run", "r1"]],
        ),
        "dvc.lock": (
            "dvc.lock",
            st.fixed_dictionaries({"path": v}, optional={"md5": v, "size": v, "nfiles": v}),
            [["status"], ["verify"], ["pull"]],
        ),
        "settings": (
            "pyproject.toml",
            st.dictionaries(
                st.sampled_from(["artifacts_root", "lock_timeout", "preserve", "jobs"]),
                v,
                max_size=2,
            ),
            [["status"], ["list"]],
        ),
    }


def _write(repo: Path, kind: str, rel: str, doc: Any, originals: dict[str, bytes]) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "ledger":
        path.write_text("".join(json.dumps(e) + "\n" for e in doc))
    elif kind == "dvc.lock":
        lock = yaml.safe_load(originals[rel])
        lock["stages"]["generate"]["outs"][0] = doc
        path.write_text(yaml.safe_dump(lock))
    elif kind == "settings":
        import tomlkit
        from hypothesis import assume

        text = originals[rel].decode()
        try:
            body = tomlkit.dumps({"tool": {"artifactctl": doc}}) if doc else ""
        except (tomlkit.exceptions.ConvertError, ValueError):
            body = None
        assume(body is not None)  # TOML has no null: not a document a file could hold
        path.write_text(text.split("[tool.artifactctl]")[0] + str(body))
    else:
        path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "kind", ["ledger", "archived", "champion", "run", "manifest", "dvc.lock", "settings"]
)
def test_hostile_metadata_is_refused_or_contained(hostile_repo: Path, kind: str) -> None:
    victim = hostile_repo.parent / "victim"
    rel, strategy, commands = _documents(str(victim))[kind]
    tracked = [rel, "params.yaml", "dvc.lock", f"{PROD}/ledger.jsonl"]
    originals = {r: (hostile_repo / r).read_bytes() for r in tracked if (hostile_repo / r).exists()}
    before = snapshot(victim)

    @given(doc=strategy)
    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def attack(doc: Any) -> None:
        try:
            _write(hostile_repo, kind, rel, doc, originals)
            for args in commands:
                _check(hostile_repo, *args)
            assert snapshot(victim) == before
            assert sorted(p.name for p in victim.parent.iterdir()) == ["remote", "repo", "victim"]
        finally:
            for r, data in originals.items():
                (hostile_repo / r).write_bytes(data)
            if rel not in originals:
                (hostile_repo / rel).unlink(missing_ok=True)

    attack()
