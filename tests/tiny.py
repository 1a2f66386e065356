"""The tiny pipeline (prep, then fit@ID for e-1 and e-2) that run and production tests share:
a real git + DVC repository reproduced once per test module, copied for each test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import dvc, git, init_repo

STAGE_PY = """
import sys

import artifactctl

ctx = artifactctl.context()
p = ctx.params()
if sys.argv[1] == "prep":
    out = ctx.path("data/base.txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"seed={p['data']['seed']}\\n")
elif sys.argv[1] == "fit":
    key = sys.argv[2]
    e = p["experiments"][key]
    if e["fail"]:
        print("boom: asked to fail")
        sys.exit(3)
    base = ctx.input_path("data/base.txt").read_text()
    if e["sleep"]:
        import time

        print("sleeping", flush=True)
        time.sleep(e["sleep"])
    d = ctx.path(f"models/{e['phase']}/{key}")
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.txt").write_text(base + f"value={e['value']}\\n")
    m = ctx.path(f"experiments/{key}")
    m.mkdir(parents=True, exist_ok=True)
    (m / "metrics.json").write_text('{"rmse": %s}' % (e["value"] / 10))
elif sys.argv[1] == "rogue":
    # ignores the context: writes the production path in every mode
    (ctx.project.artifacts / "data" / "base.txt").write_text("rogue\\n")
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
        - artifacts/experiments/${key}/metrics.json
"""

PARAMS = """
data:
  seed: 1
experiments:
  e-1: {phase: candidates, model: ridge, value: 1, fail: false, sleep: 0}
  e-2: {phase: baseline, model: ridge, value: 2, fail: false, sleep: 0}
"""


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
