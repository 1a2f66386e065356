"""Experiments declared in params.yaml: ``experiments: {ID: {phase, model, ...}}``.

params.yaml is the list of registered experiments; DVC's foreach turns each
entry into ``train@ID`` and ``evaluate@ID``. Read-only here (editing keeps the
file's comments, with ruamel.yaml, in the registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.dvc.yamlio import load_yaml
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.project import Project
from artifactctl.safepath import checked_id


@dataclass(frozen=True)
class Experiment:
    id: str
    phase: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    desc: str = ""

    def model_dir(self, project: Project) -> Path:
        return project.artifacts / layout.MODELS / self.phase / self.id

    def experiment_dir(self, project: Project) -> Path:
        return project.artifacts / layout.EXPERIMENTS / self.id


UNKNOWN_EXPERIMENT_HINT = (
    "`artifactctl list` shows the experiments; `artifactctl new --model KIND` adds one"
)
MAPPING_HINT = "params.yaml must hold `key: value` lines at the top, e.g. `experiments: {}`"


def load_experiments(project: Project) -> dict[str, Experiment]:
    return experiments_in(load_yaml(project.root / "params.yaml") or {})


def experiments_in(params: Any, source: str = "params.yaml") -> dict[str, Experiment]:
    """The experiments a params document declares, their IDs and phases checked as names."""
    if not isinstance(params, dict):
        raise UsageError(f"{source} must be a mapping", hint=MAPPING_HINT)
    declared = params.get("experiments") or {}
    if not isinstance(declared, dict):
        raise UsageError(f"{source}: 'experiments' must map IDs to settings")
    out = {}
    for exp_id, body in declared.items():
        exp_id = checked_id(exp_id, what="experiment ID", source=source)
        if not isinstance(body, dict) or "phase" not in body or "model" not in body:
            raise UsageError(f"{source}: experiment {exp_id} needs 'phase' and 'model'")
        out[exp_id] = Experiment(
            id=exp_id,
            # the phase names a folder (models/<phase>/<ID>): one safe path component
            phase=checked_id(body["phase"], what=f"phase of {exp_id}", source=source),
            model=str(body["model"]),
            params=dict(body),
            desc=str(body.get("desc", "")),
        )
    return out


def get_experiment(project: Project, exp_id: str) -> Experiment:
    layout.validate_name(exp_id, "experiment ID")
    experiments = load_experiments(project)
    if exp_id not in experiments:
        known = ", ".join(sorted(experiments)) or "none"
        raise UsageError(
            f"unknown experiment {exp_id!r} (declared: {known})", hint=UNKNOWN_EXPERIMENT_HINT
        )
    return experiments[exp_id]


def read_metrics(folder: Path) -> dict[str, Any]:
    """An experiment folder's metrics.json ({} when absent or unreadable)."""
    try:
        data = read_json(folder / "metrics.json")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
