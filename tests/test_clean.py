"""`artifactctl clean` and `keep`: retention of test runs under artifacts/tests/."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import init_repo, invoke, sha256, snapshot

from artifactctl.clean.apply import apply_clean
from artifactctl.clean.plan import plan_clean
from artifactctl.clean.runs import TRASH_DIR
from artifactctl.layout import KEEP_MARKER, RUN_MANIFEST, RUN_SCHEMA
from artifactctl.project import find_repo

DAY = 86400
NOW = 1_800_000_000  # a fixed "now" for library-level tests (2027-01-15)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_run(
    repo: Path,
    name: str,
    age_days: float = 0.0,
    *,
    now: float | None = None,
    kept: bool = False,
    manifest: str | None = "ok",
    files: int = 3,
) -> Path:
    """A test run folder per the layout contract, created ``age_days`` before ``now``."""
    now = time.time() if now is None else now
    run = repo / "artifacts" / "tests" / name
    model = run / "models" / "candidates" / "v2-001"
    model.mkdir(parents=True)
    for i in range(files):
        (model / f"f{i}.bin").write_bytes(os.urandom(100 + i))
    (run / "experiments").mkdir()
    (run / "experiments" / "metrics.json").write_text('{"rmse": 1.0}')
    created = now - age_days * DAY
    if manifest == "ok":
        doc = {"schema": RUN_SCHEMA, "name": name, "mode": "test", "created": iso(created)}
        (run / RUN_MANIFEST).write_text(json.dumps(doc))
    elif manifest == "corrupt":
        (run / RUN_MANIFEST).write_text("{not json")
    if kept:
        (run / KEEP_MARKER).write_text("{}")
    os.utime(run, (created, created))
    return run


def runs_left(repo: Path) -> set[str]:
    root = repo / "artifacts" / "tests"
    return {p.name for p in root.iterdir()} if root.exists() else set()


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = init_repo(tmp_path_factory.mktemp("clean") / "repo")
    prod = repo / "artifacts" / "models" / "production" / "champion_current"
    prod.mkdir(parents=True)
    (prod / "model.joblib").write_bytes(b"champion bytes" * 100)
    (repo / "artifacts" / "reference").mkdir(parents=True)
    (repo / "artifacts" / "reference" / "healthy_cluster_avg.csv").write_text("a,b\n1,2\n")
    return repo


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(base_repo, copy, symlinks=True)
    return copy


def outside_tests(repo: Path) -> dict[str, str]:
    snap = snapshot(repo)
    return {
        k: v
        for k, v in snap.items()
        if not k.startswith(("artifacts/tests/", ".dvc/tmp/"))  # tmp: artifactctl's lock
    }


def test_dry_run_lists_exactly_what_force_removes_and_removes_nothing(repo: Path) -> None:
    for i, age in enumerate([1, 2, 3, 40, 50, 60, 70]):
        make_run(repo, f"run{i}", age)
    before = snapshot(repo)
    dry = invoke(repo, "clean", "--keep", "3", "--older-than", "30", "--json")
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True
    assert [d["name"] for d in plan["remove"]] == ["run3", "run4", "run5", "run6"]
    assert {d["name"] for d in plan["keep"]} == {"run0", "run1", "run2"}
    assert plan["remove"][0]["reason"] == "beyond the 3 newest, older than 30 days"
    assert plan["summary"]["bytes_reclaimed"] == sum(d["size"] for d in plan["remove"]) > 0
    assert snapshot(repo) == before  # the dry run touched nothing

    done = invoke(repo, "clean", "--keep", "3", "--older-than", "30", "--force", "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["dry_run"] is False
    assert [d["name"] for d in result["remove"]] == [d["name"] for d in plan["remove"]]
    assert result["summary"]["bytes_reclaimed"] == plan["summary"]["bytes_reclaimed"]
    assert runs_left(repo) == {"run0", "run1", "run2"}
    assert outside_tests(repo) == {
        k: v for k, v in before.items() if not k.startswith(("artifacts/tests/", ".dvc/tmp/"))
    }


def test_table_output_names_runs_and_summary(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    make_run(repo, "stale", 45)
    result = invoke(repo, "clean")
    assert result.exit_code == 0
    assert "stale" in result.stdout and "older than 30 days" in result.stdout
    assert "2 test runs: 1 kept, 1 to remove" in result.stdout
    assert "dry run" in result.stdout
    assert runs_left(repo) == {"fresh", "stale"}


def test_retention_settings_come_from_pyproject_and_environment(repo: Path) -> None:
    for i in range(4):
        make_run(repo, f"r{i}", i * 0.1)
    (repo / "pyproject.toml").write_text(
        "[tool.artifactctl.retention]\nkeep_recent = 2\nmax_age_days = 30\n"
    )
    plan = json.loads(invoke(repo, "clean", "--json").stdout)
    assert [d["name"] for d in plan["remove"]] == ["r2", "r3"]
    env = {"ARTIFACTCTL_RETENTION__KEEP_RECENT": "3"}
    plan = json.loads(invoke(repo, "clean", "--json", env=env).stdout)
    assert [d["name"] for d in plan["remove"]] == ["r3"]
    plan = json.loads(invoke(repo, "clean", "--json", "--keep", "1", env=env).stdout)
    assert [d["name"] for d in plan["remove"]] == ["r1", "r2", "r3"]


def test_keep_marks_a_run_that_clean_never_removes_and_undo_reverses_it(repo: Path) -> None:
    make_run(repo, "new", 0)
    make_run(repo, "precious", 90)
    result = invoke(repo, "keep", "precious")
    assert result.exit_code == 0, result.stderr
    assert (repo / "artifacts/tests/precious" / KEEP_MARKER).exists()
    plan = json.loads(invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--json").stdout)
    assert plan["remove"] == []
    assert {d["name"]: d["reason"] for d in plan["keep"]}["precious"] == "marked kept"
    invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--force")
    assert runs_left(repo) == {"new", "precious"}

    undo = invoke(repo, "keep", "--undo", "precious", "--json")
    assert undo.exit_code == 0
    assert json.loads(undo.stdout)["runs"][0] == {
        "name": "precious",
        "path": "artifacts/tests/precious",
        "kept": False,
        "changed": True,
    }
    invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--force")
    assert runs_left(repo) == {"new"}


def test_keep_unknown_run_is_usage_error(repo: Path) -> None:
    make_run(repo, "a", 0)
    result = invoke(repo, "keep", "a", "nope")
    assert result.exit_code == 2
    assert "no test run named 'nope'" in result.stderr
    assert not (repo / "artifacts/tests/a" / KEEP_MARKER).exists()  # all or nothing
    assert invoke(repo, "keep", "../models").exit_code == 2


def test_newest_run_is_never_removed(repo: Path) -> None:
    make_run(repo, "only-old", 400)
    make_run(repo, "older", 500)
    result = invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--force", "--json")
    assert [d["name"] for d in json.loads(result.stdout)["remove"]] == ["older"]
    assert runs_left(repo) == {"only-old"}


def test_folders_without_a_valid_run_json_are_skipped_never_removed(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    make_run(repo, "no-manifest", 40, manifest=None)
    make_run(repo, "corrupt", 40, manifest="corrupt")
    foreign = make_run(repo, "foreign", 40, manifest=None)
    (foreign / RUN_MANIFEST).write_text(json.dumps({"created": iso(time.time() - 40 * DAY)}))
    result = invoke(repo, "clean", "--keep", "0", "--older-than", "0", "--force", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["remove"] == []
    skipped = {s["name"]: s["reason"] for s in plan["skipped"]}
    assert set(skipped) == {"no-manifest", "corrupt", "foreign"}
    assert "no run.json" in skipped["no-manifest"]
    assert "run.json is unreadable" in skipped["corrupt"]
    assert "not artifactctl's" in skipped["foreign"]
    assert "not a run artifactctl made" in result.stderr
    assert runs_left(repo) == {"fresh", "no-manifest", "corrupt", "foreign"}


def test_a_run_json_nested_too_deep_is_unreadable_not_an_internal_error(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    deep = make_run(repo, "deep", 40, manifest="corrupt")
    (deep / RUN_MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    result = invoke(repo, "clean", "--keep", "10", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["remove"] == []
    [skipped] = plan["skipped"]
    assert skipped["name"] == "deep"
    assert "run.json is unreadable (RecursionError)" in skipped["reason"]


def test_unidentified_entries_are_skipped_with_a_warning(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    make_run(repo, "old", 90)
    tests = repo / "artifacts" / "tests"
    (tests / "notes").mkdir()
    (tests / "notes" / "todo.txt").write_text("keep me")
    (tests / "loose.txt").write_text("loose")
    old = time.time() - 400 * DAY
    os.utime(tests / "notes", (old, old))
    result = invoke(repo, "clean", "--force", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert {s["name"] for s in plan["skipped"]} == {"notes", "loose.txt"}
    assert "skipped 'notes'" in result.stderr
    assert runs_left(repo) == {"fresh", "notes", "loose.txt"}
    assert (tests / "notes" / "todo.txt").read_text() == "keep me"


def test_run_named_like_a_test_run_without_manifest_is_not_removed(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    odd = repo / "artifacts" / "tests" / "test_20260101_120000_a1b2c3"
    odd.mkdir(parents=True)
    (odd / "x.txt").write_text("x")
    old = time.time() - 90 * DAY
    os.utime(odd, (old, old))
    plan = json.loads(invoke(repo, "clean", "--json").stdout)
    assert plan["remove"] == []
    assert [s["name"] for s in plan["skipped"]] == [odd.name]


def test_symlinks_out_of_the_tree_are_removed_as_links_never_followed(repo: Path) -> None:
    prod = repo / "artifacts" / "models" / "production" / "champion_current"
    before = snapshot(prod)
    make_run(repo, "fresh", 0)
    run = make_run(repo, "old", 90)
    (run / "champion").symlink_to(prod, target_is_directory=True)
    (run / "model.joblib").symlink_to(prod / "model.joblib")
    (run / "abs-link").symlink_to(os.path.abspath(prod))
    # a symlink at the top of artifacts/tests/ is not a run: skipped, never followed
    (repo / "artifacts" / "tests" / "prod-link").symlink_to(prod, target_is_directory=True)
    result = invoke(repo, "clean", "--keep", "1", "--force", "--json")
    assert result.exit_code == 0, result.stderr
    assert runs_left(repo) == {"fresh", "prod-link"}
    assert snapshot(prod) == before
    assert (repo / "artifacts" / "tests" / "prod-link").is_symlink()


def test_tests_root_that_is_a_symlink_is_refused(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "old").mkdir(parents=True)
    doc = {"schema": RUN_SCHEMA, "created": "2000-01-01T00:00:00Z"}
    (elsewhere / "old" / RUN_MANIFEST).write_text(json.dumps(doc))
    (repo / "artifacts" / "tests").symlink_to(elsewhere, target_is_directory=True)
    result = invoke(repo, "clean", "--keep", "0", "--force")
    assert result.exit_code == 2
    assert "symlink" in result.stderr
    assert (elsewhere / "old" / RUN_MANIFEST).exists()


def test_name_glob_limits_which_runs_are_considered(repo: Path) -> None:
    for i in range(3):
        make_run(repo, f"exp-a-{i}", i + 1)
        make_run(repo, f"exp-b-{i}", i + 10)
    plan = json.loads(invoke(repo, "clean", "--name", "exp-b-*", "--keep", "1", "--json").stdout)
    assert [d["name"] for d in plan["remove"]] == ["exp-b-1", "exp-b-2"]
    assert {d["name"] for d in plan["keep"]} == {"exp-b-0"}


def test_no_tests_folder_is_an_empty_clean(repo: Path) -> None:
    result = invoke(repo, "clean", "--force", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["runs"] == 0


def test_cache_option_rejects_run_selection_options(repo: Path) -> None:
    result = invoke(repo, "clean", "--cache", "--keep", "1")
    assert result.exit_code == 2


def test_leftover_trash_is_reported_by_dry_run_and_removed_by_force(repo: Path) -> None:
    make_run(repo, "fresh", 0)
    trash = repo / "artifacts" / "tests" / TRASH_DIR / "abc-0"
    trash.mkdir(parents=True)
    (trash / "half.bin").write_bytes(b"x")
    plan = json.loads(invoke(repo, "clean", "--json").stdout)
    assert plan["summary"]["leftover_trash"] == 1
    assert plan["skipped"] == []
    invoke(repo, "clean", "--force")
    assert runs_left(repo) == {"fresh"}


# --- property: exactly the expected set -------------------------------------------------

GLOBS = (None, "r0*", "*1", "r1?")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[int, bool]], int, int, str | None]:
    ages = draw(st.lists(st.integers(0, 90 * 24 * 60), min_size=1, max_size=12, unique=True))
    kept = draw(st.lists(st.booleans(), min_size=len(ages), max_size=len(ages)))
    return (
        list(zip(ages, kept, strict=True)),
        draw(st.integers(0, 8)),
        draw(st.integers(0, 60)),
        draw(st.sampled_from(GLOBS)),
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenarios())
def test_clean_removes_exactly_the_expected_set(
    base_repo: Path, scenario: tuple[list[tuple[int, bool]], int, int, str | None]
) -> None:
    runs, keep_recent, max_age, glob = scenario
    repo = base_repo
    tests = repo / "artifacts" / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    prod = repo / "artifacts" / "models" / "production" / "champion_current" / "model.joblib"
    outside = outside_tests(repo)
    names = [f"r{i:02d}" for i in range(len(runs))]
    for name, (age_min, kept) in zip(names, runs, strict=True):
        run = make_run(repo, name, age_min / 1440, now=NOW, kept=kept, files=1)
        (run / "prod-link").symlink_to(prod)
    (tests / "stranger").mkdir()

    # The specification, written independently of retention.decide:
    info = {n: (NOW - age * 60, kept) for n, (age, kept) in zip(names, runs, strict=True)}
    newest = max(names, key=lambda n: info[n][0])
    import fnmatch

    chosen = [n for n in names if glob is None or fnmatch.fnmatchcase(n, glob)]
    chosen.sort(key=lambda n: -info[n][0])
    expected = {
        n
        for rank, n in enumerate(chosen)
        if (rank >= keep_recent or (NOW - info[n][0]) / DAY > max_age)
        and not info[n][1]
        and n != newest
    }

    project = find_repo(repo)
    plan = plan_clean(project, keep_recent, max_age, glob, now=NOW)
    assert {d.name for d in plan.remove} == expected
    apply_clean(project, plan)
    assert runs_left(repo) == ({*names, "stranger"} - expected)
    for n in names:
        if info[n][1]:
            assert n in runs_left(repo)
    assert newest in runs_left(repo)
    assert outside_tests(repo) == outside
    assert sha256(prod) == outside["artifacts/models/production/champion_current/model.joblib"]


def test_make_clean_is_a_dry_run_and_clean_force_acts() -> None:
    import subprocess

    from support import PROJECT

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "clean", "clean-force", "refresh"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].endswith("artifactctl clean")  # the dry run
    assert "artifactctl clean --force" in lines[1]
    assert "artifactctl refresh --force" in dry.stdout


def test_trash_that_is_a_symlink_is_refused_and_nothing_moves(repo: Path, tmp_path: Path) -> None:
    make_run(repo, "fresh", 0)
    make_run(repo, "old", 90)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "artifacts" / "tests" / TRASH_DIR).symlink_to(outside, target_is_directory=True)
    result = invoke(repo, "clean", "--force")
    assert result.exit_code == 2
    assert list(outside.iterdir()) == []
    assert {"fresh", "old"} <= runs_left(repo)


def test_force_on_many_runs_and_leftover_trash_reports_what_the_dry_run_measured(
    repo: Path,
) -> None:
    # more runs than the first durable batch and than one lane takes, plus an interrupted
    # clean's leftovers: every run is measured as it is deleted, exactly as the dry run measured
    shutil.rmtree(repo / "artifacts" / "tests", ignore_errors=True)  # the property test's runs
    for i in range(150):
        make_run(repo, f"run{i:03d}", i / 10, files=1 + i % 3)
    leftover = repo / "artifacts" / "tests" / TRASH_DIR / "abc-0" / "models"
    leftover.mkdir(parents=True)
    (leftover / "half.bin").write_bytes(b"x" * 10)
    dry = json.loads(invoke(repo, "clean", "--keep", "20", "--json").stdout)
    assert dry["summary"]["to_remove"] == 130 and dry["summary"]["leftover_trash"] == 1
    done = invoke(repo, "clean", "--keep", "20", "--force", "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert [(d["name"], d["size"], d["files"]) for d in result["remove"]] == [
        (d["name"], d["size"], d["files"]) for d in dry["remove"]
    ]
    assert [(d["name"], d["size"]) for d in result["keep"]] == [
        (d["name"], d["size"]) for d in dry["keep"]
    ]
    assert result["summary"]["bytes_reclaimed"] == dry["summary"]["bytes_reclaimed"] > 0
    assert runs_left(repo) == {f"run{i:03d}" for i in range(20)}
