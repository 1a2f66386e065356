"""Repositories whose layout is their own (not the reference pipeline's), built for real.

Each builder writes a small pipeline (plain Python scripts that take their paths from
``artifactctl.context()``), a dvc.yaml, params.yaml and pyproject settings, commits them,
runs ``dvc repro`` and commits dvc.lock: a git + DVC repository as a user would have it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from support import dvc, git, init_repo

# prepare: rows of x; fit: a "model" and predictions y + noise, as the settings name them.
PREPARE_PY = """
import random

import artifactctl

ctx = artifactctl.context()
out = ctx.path("data/rows.csv")
out.parent.mkdir(parents=True, exist_ok=True)
rng = random.Random(7)
lines = ["idx,x"] + [f"r{i},{rng.uniform(0, 10):.6f}" for i in range(300)]
out.write_text("\\n".join(lines) + "\\n")
"""

FIT_PY = """
import json
import math
import pickle
import random
import sys

import artifactctl

ctx = artifactctl.context()
key, exp_id = sys.argv[1], sys.argv[2]
entry = ctx.params()[key][exp_id]
rows = ctx.input_path("data/rows.csv").read_text().splitlines()[1:]
folder = ctx.path(sys.argv[3])
folder.mkdir(parents=True, exist_ok=True)
(folder / "model.pkl").write_bytes(pickle.dumps({"noise": entry["noise"]}))
rng = random.Random(entry["seed"])
out, errors = ["idx,y,yhat"], []
for line in rows:
    rid, x = line.split(",")
    y = 2 * float(x) + 1
    yhat = y + rng.gauss(0, entry["noise"])
    errors.append((yhat - y) ** 2)
    out.append(f"{rid},{y:.6f},{yhat:.6f}")
(folder / "predictions.csv").write_text("\\n".join(out) + "\\n")
(folder / "metrics.json").write_text(json.dumps({"rmse": math.sqrt(sum(errors) / len(errors))}))
"""

OWN_PYPROJECT = """
[tool.artifactctl]
artifacts_root = "."

[tool.artifactctl.registry]
experiments = "models"
model_dir = "out/{id}"
predictions = "out/{id}/predictions.csv"
metrics = "out/{id}/metrics.json"
row_id = "idx"
actual = "y"
predicted = "yhat"
id_prefix = "m-"
id_width = 3
"""

OWN_PARAMS = """
models:
  m-001:
    seed: 1
    noise: 2.0
  m-002:
    seed: 2
    noise: 0.5
"""

OWN_DVC_YAML = """
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    outs: [data/rows.csv]
  fit:
    foreach: ${models}
    do:
      cmd: python fit.py models ${key} out/${key}
      deps: [fit.py, data/rows.csv]
      params:
        - models.${key}
      outs:
        - out/${key}
"""


def write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def build(repo: Path, files: dict[str, str], repro: bool = True) -> Path:
    """A git + DVC repository with ``files`` committed, reproduced and committed again."""
    init_repo(repo)
    return build_more(repo, files, repro)


def own_layout(repo: Path, repro: bool = True) -> Path:
    """(b): its own params key (models), stage name (fit), output folders (out/<id>),
    prediction columns (idx, y, yhat), ID prefix (m-) and the whole repository as root."""
    files = {
        "pyproject.toml": OWN_PYPROJECT,
        "params.yaml": OWN_PARAMS,
        "dvc.yaml": OWN_DVC_YAML,
        "prepare.py": PREPARE_PY,
        "fit.py": FIT_PY,
    }
    return build(repo, files, repro)


# (d) The shape of DVC's own tutorials (example-get-started): prepare -> featurize -> train
# -> evaluate, model.pkl at the top, metrics and plots under eval/. Plain scripts.
TUTORIAL_STAGE_PY = """
import hashlib
import json
import sys
from pathlib import Path


def digest(*paths):
    h = hashlib.md5()
    for p in paths:
        for f in sorted(Path(p).rglob("*")) if Path(p).is_dir() else [Path(p)]:
            if f.is_file():
                h.update(f.read_bytes())
    return h.hexdigest()


stage = sys.argv[1]
if stage == "prepare":
    Path("data/prepared").mkdir(parents=True, exist_ok=True)
    rows = Path("data/data.xml").read_text().split()
    Path("data/prepared/train.tsv").write_text("\\n".join(rows[::2]) + "\\n")
    Path("data/prepared/test.tsv").write_text("\\n".join(rows[1::2]) + "\\n")
elif stage == "featurize":
    Path("data/features").mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        text = Path(f"data/prepared/{name}.tsv").read_text()
        Path(f"data/features/{name}.pkl").write_text(digest(f"data/prepared/{name}.tsv") + text)
elif stage == "train":
    Path("model.pkl").write_text("model " + digest("data/features"))
elif stage == "evaluate":
    Path("eval/plots").mkdir(parents=True, exist_ok=True)
    Path("eval/metrics.json").write_text(json.dumps({"avg_prec": 0.9, "roc_auc": 0.95}))
    Path("eval/plots/prc.json").write_text(json.dumps([{"p": 1, "r": 0}]))
"""

TUTORIAL_DVC_YAML = """
stages:
  prepare:
    cmd: python src/stage.py prepare
    deps: [src/stage.py, data/data.xml]
    outs: [data/prepared]
  featurize:
    cmd: python src/stage.py featurize
    deps: [src/stage.py, data/prepared]
    outs: [data/features]
  train:
    cmd: python src/stage.py train
    deps: [src/stage.py, data/features]
    outs: [model.pkl]
  evaluate:
    cmd: python src/stage.py evaluate
    deps: [src/stage.py, model.pkl, data/features]
    metrics:
      - eval/metrics.json:
          cache: false
    outs: [eval/plots]
"""


def tutorial(repo: Path, root: str = ".", repro: bool = True) -> Path:
    """(d): top-level outputs, as in DVC's tutorials; ``root`` is the artifacts_root."""
    files = {
        "pyproject.toml": f'[tool.artifactctl]\nartifacts_root = "{root}"\n',
        "dvc.yaml": TUTORIAL_DVC_YAML,
        "src/stage.py": TUTORIAL_STAGE_PY,
    }
    init_repo(repo)
    write(repo, {"data/data.xml": " ".join(f"<row id='{i}'/>" for i in range(40)) + "\n"})
    dvc(repo, "add", "-q", "data/data.xml")
    return build_more(repo, files, repro)


def build_more(repo: Path, files: dict[str, str], repro: bool) -> Path:
    write(repo, {".gitignore": "/artifacts/tests/\n", **files})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    if repro:
        dvc(repo, "repro", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "repro")
    return repo


# (c) Two model families in one repository, each its own params key, stage, templates,
# IDs, ledger and champion; the ranker's tree is data/<source>/<build>/<base_model>_eval/.
FAMILIES_PYPROJECT = """
[tool.artifactctl]
artifacts_root = "."

[tool.artifactctl.registries.ranker]
experiments = "ranker"
model_dir = "data/{source}/{build}/{base_model}_eval"
predictions = "data/{source}/{build}/{base_model}_eval/predictions.csv"
metrics = "data/{source}/{build}/{base_model}_eval/metrics.json"
fields = {source = "web", build = "b7"}
row_id = "idx"
actual = "y"
predicted = "yhat"
id_prefix = "r-"

[tool.artifactctl.registries.scorer]
experiments = "scorer"
model_dir = "scorers/{id}"
predictions = "scorers/{id}/predictions.csv"
metrics = "scorers/{id}/metrics.json"
row_id = "idx"
actual = "y"
predicted = "yhat"
id_prefix = "s-"
id_width = 2
"""

FAMILIES_PARAMS = """
ranker:
  r-001: {base_model: bm25, seed: 1, noise: 2.0}
  r-002: {base_model: dense, seed: 2, noise: 1.0}
  r-003: {base_model: hybrid, seed: 3, noise: 0.3}
scorer:
  s-01: {seed: 4, noise: 1.5}
  s-02: {seed: 5, noise: 0.4}
"""

FAMILIES_DVC_YAML = """
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    outs: [data/rows.csv]
  rank:
    foreach: ${ranker}
    do:
      cmd: python fit.py ranker ${key} data/web/b7/${item.base_model}_eval
      deps: [fit.py, data/rows.csv]
      params:
        - ranker.${key}
      outs:
        - data/web/b7/${item.base_model}_eval
  score:
    foreach: ${scorer}
    do:
      cmd: python fit.py scorer ${key} scorers/${key}
      deps: [fit.py, data/rows.csv]
      params:
        - scorer.${key}
      outs:
        - scorers/${key}
"""


def families(repo: Path, ranker_tests: str | None = None) -> Path:
    """(c); ``ranker_tests``: the ranker's own tests_dir (a template over its fields)."""
    pyproject = FAMILIES_PYPROJECT
    if ranker_tests is not None:
        pyproject = pyproject.replace(
            'id_prefix = "r-"', f'id_prefix = "r-"\ntests_dir = "{ranker_tests}"'
        )
    files = {
        "pyproject.toml": pyproject,
        "params.yaml": FAMILIES_PARAMS,
        "dvc.yaml": FAMILIES_DVC_YAML,
        "prepare.py": PREPARE_PY,
        "fit.py": FIT_PY,
    }
    init_repo(repo)
    return build_more(repo, files, True)
