"""`artifactctl clean` on 1,000 test runs of 10 small files: dry run, and `--force`
removing 900 of them next to `rm -rf` of the same 900 folders (interleaved medians).

Measured where test runs live: on the disk (the temporary folder's file system, or
BENCH_DIR), which is the row with the target. The full run measures tmpfs (/dev/shm)
too, for information: there deleting is pure CPU work, `rm -rf` of the 900 runs takes
less time than Python's start-up, and clean's threads (which overlap the disk's waits,
2-6x faster on ext4) only contend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import BIN, Row, bench_env, interleaved, measure

RUNS = 1000
KEEP = 100
FILES = 10


def _make_runs(tests: Path, now: float) -> None:
    for i in range(RUNS):
        run = tests / f"test_run_{i:04d}"
        model = run / "models" / "candidates" / "v2-001"
        exp = run / "experiments" / "v2-001"
        model.mkdir(parents=True)
        exp.mkdir(parents=True)
        for j in range(FILES - 1):
            folder = model if j < 5 else exp
            (folder / f"file{j}.bin").write_bytes(os.urandom(512))
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - i * 3600 * 2))
        (run / "run.json").write_text(
            json.dumps({"schema": "artifactctl.run/1", "name": run.name, "created": created})
        )


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 7
    # As installed: byte-compiled (with PYTHONDONTWRITEBYTECODE set, an editable install
    # would otherwise compile every edited module again at each start, as bench/verify.py says).
    package = Path(__file__).resolve().parent.parent / "artifactctl"
    subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", str(package)], check=True)
    rows = _run_in(os.environ.get("BENCH_DIR") or tempfile.gettempdir(), repeats, target=True)
    if not quick and os.path.isdir("/dev/shm") and not os.environ.get("BENCH_DIR"):
        rows += _run_in("/dev/shm", repeats, target=False)[1:3]
    return rows


def _run_in(where: str, repeats: int, *, target: bool) -> list[Row]:
    env = bench_env()
    with tempfile.TemporaryDirectory(prefix="bench-clean-", dir=where) as tmp:
        base = Path(tmp)
        repo = base / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=repo, check=True, env=env)
        template = base / "template"
        _make_runs(template, time.time())
        tests = repo / "artifacts" / "tests"
        doomed = [f"test_run_{i:04d}" for i in range(KEEP, RUNS)]

        def restore(_: str = "") -> None:
            shutil.rmtree(tests, ignore_errors=True)
            shutil.copytree(template, tests)

        restore()
        ours = [str(BIN / "artifactctl"), "clean", "--keep", str(KEEP), "--older-than", "1000"]
        check = subprocess.run([*ours, "--json"], cwd=repo, capture_output=True, env=env)
        planned = json.loads(check.stdout)["remove"]
        assert sorted(d["name"] for d in planned) == doomed, "the dry run lists other runs"
        dry = measure(ours, repeats, cwd=repo, env=env, warmup=1)
        version = measure([str(BIN / "artifactctl"), "--version"], repeats, cwd=repo, env=env)

        library = [
            str(BIN / "python"),
            "-c",
            "from artifactctl.project import find_repo\n"
            "from artifactctl.clean.apply import clean_runs\n"
            f"clean_runs(find_repo(), {KEEP}, 1000, force=True)",
        ]
        got = interleaved(
            {
                "clean --force": [*ours, "--force"],
                "rm -rf": ["rm", "-rf", *doomed],
                "library": library,
            },
            repeats,
            cwd=tests,
            env=env,
            setup=restore,
        )
        restore()
        subprocess.run([*ours, "--force"], cwd=repo, check=True, env=env, capture_output=True)
        left = sorted(os.listdir(tests))
        assert left == [f"test_run_{i:04d}" for i in range(KEEP)], "clean removed other runs"

    force, rm, lib = got["clean --force"], got["rm -rf"], got["library"]
    return [
        Row(
            "clean",
            f"clean (dry run), {RUNS} runs",
            dry.seconds,
            ours_rss_mib=dry.max_rss_mib,
            note=f"target < 1 s; {RUNS} runs x {FILES} files; {repeats} runs; in {where}",
        ),
        Row(
            "clean",
            f"clean --force, {RUNS - KEEP} of {RUNS} runs{'' if target else ', tmpfs'}",
            force.seconds,
            f"rm -rf the same {RUNS - KEEP}",
            rm.seconds,
            force.max_rss_mib,
            note=f"{'target <= 2.5x rm -rf; ' if target else ''}interleaved; in {where}",
        ),
        Row(
            "clean",
            f"clean_runs(force=True) (python -c){'' if target else ', tmpfs'}",
            lib.seconds,
            f"rm -rf the same {RUNS - KEEP}",
            rm.seconds,
            lib.max_rss_mib,
            note="the library without the CLI's start-up (Typer, pydantic, rich)",
        ),
        Row(
            "clean",
            "artifactctl --version",
            version.seconds,
            note="start-up floor included in both artifactctl figures",
        ),
    ]
