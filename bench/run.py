"""`artifactctl run` / `refresh` next to `dvc repro` on a small real pipeline.

A pipeline of one `prep` stage and N `fit@eNN` foreach stages that write small
files through artifactctl.context(): the stages are trivial, so the figures are
the tools' own overhead (planning the overwrite policy, launching stages).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from bench.common import BIN, Row, bench_env, interleaved

STAGE = """
import sys
import artifactctl
ctx = artifactctl.context()
p = ctx.params()
if sys.argv[1] == "prep":
    out = ctx.path("data/base.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(str(p["data"]["seed"]))
else:
    key = sys.argv[2]
    d = ctx.path(f"models/candidates/{key}")
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.txt").write_text(ctx.input_path("data/base.txt").read_text() + key)
"""

DVC_YAML = """
stages:
  prep:
    cmd: python stage.py prep
    deps: [stage.py]
    params: [data]
    outs: [artifacts/data/base.txt]
  fit:
    foreach: ${experiments}
    do:
      cmd: python stage.py fit ${key}
      deps: [stage.py, artifacts/data/base.txt]
      params:
        - experiments.${key}
      outs:
        - artifacts/models/${item.phase}/${key}
"""


def _sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, env=bench_env(), check=True, capture_output=True)


def build(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    (root / "stage.py").write_text(STAGE)
    (root / "dvc.yaml").write_text(DVC_YAML)
    exps = "".join(
        f"  e{i:02d}: {{phase: candidates, model: ridge, value: {i}}}\n" for i in range(n)
    )
    (root / "params.yaml").write_text(f"data:\n  seed: 1\nexperiments:\n{exps}")
    (root / ".gitignore").write_text("/artifacts/tests/\n")
    _sh("git", "init", "-q", "-b", "main", cwd=root)
    _sh(str(BIN / "dvc"), "init", "-q", cwd=root)
    _sh(str(BIN / "dvc"), "repro", "-q", cwd=root)
    _sh("git", "add", "-A", cwd=root)
    _sh(
        "git",
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.invalid",
        "commit",
        "-qm",
        "bench",
        cwd=root,
    )
    return root


def run(quick: bool = False) -> list[Row]:
    runs = 3 if quick else 5
    n = 8
    ac, dvc = str(BIN / "artifactctl"), str(BIN / "dvc")
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        repo = build(Path(tmp) / "repo", n)
        noop = interleaved(
            {
                "artifactctl run --mode production": [ac, "run", "--mode", "production"],
                "dvc repro": [dvc, "repro", "-q"],
            },
            runs,
            cwd=repo,
        )
        full = interleaved(
            {
                "artifactctl refresh --force": [ac, "refresh", "--force", "--json"],
                "artifactctl run (test mode)": [ac, "run", "--name", "bench", "--json"],
                "dvc repro --force": [dvc, "repro", "-q", "--force"],
            },
            runs,
            cwd=repo,
        )
    stages = f"{n + 1} stages"
    return [
        Row(
            "run",
            "artifactctl run --mode production (nothing to do)",
            noop["artifactctl run --mode production"].seconds,
            "dvc repro (nothing to do)",
            noop["dvc repro"].seconds,
            noop["artifactctl run --mode production"].max_rss_mib,
            note=f"policy planned from DVC's plan; {stages}, {runs} runs",
        ),
        Row(
            "run",
            "artifactctl refresh --force",
            full["artifactctl refresh --force"].seconds,
            "dvc repro --force",
            full["dvc repro --force"].seconds,
            full["artifactctl refresh --force"].max_rss_mib,
            note=f"every stage re-run, {n} replacements logged per run",
        ),
        Row(
            "run",
            "artifactctl run (test mode, all stages)",
            full["artifactctl run (test mode)"].seconds,
            "dvc repro --force",
            full["dvc repro --force"].seconds,
            full["artifactctl run (test mode)"].max_rss_mib,
            note="stages run by artifactctl, outputs under artifacts/tests/",
        ),
    ]
