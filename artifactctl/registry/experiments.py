"""Experiments declared in params.yaml: ``<experiments key>: {ID: {phase, model, ...}}``.

params.yaml is the list of registered experiments; dvc.yaml's ``foreach`` over the same key
turns each entry into its stages (``train@ID`` and ``evaluate@ID`` in the reference
pipeline). Where an experiment's outputs are comes from the registry's path templates
(``model_dir``, ``predictions``, ``metrics``). Read-only here (editing keeps the file's
comments, with ruamel.yaml, in the registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artifactctl import layout
from artifactctl.config import Registry
from artifactctl.dvc.yamlio import load_yaml
from artifactctl.errors import UsageError
from artifactctl.fs.atomic import read_json
from artifactctl.project import Project
from artifactctl.safepath import checked_id
from artifactctl.templates import render, scalar_fields


@dataclass(frozen=True)
class Experiment:
    id: str
    phase: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    desc: str = ""
    registry: Registry = field(default_factory=Registry, repr=False)

    def fields(self) -> dict[str, str]:
        """What the path templates may use: the entry's scalar fields, ``id``, ``phase``."""
        values = {**self.registry.fields, **scalar_fields(self.params)}
        values["id"] = self.id
        if self.phase:
            values["phase"] = self.phase
        return values

    def _path(self, project: Project, template: str, what: str) -> Path:
        rel = render(template, self.fields(), what=what, source=f"experiment {self.id}")
        return project.artifacts / rel

    def model_dir(self, project: Project) -> Path:
        return self._path(project, self.registry.model_dir, "model_dir")

    def predictions_file(self, project: Project) -> Path:
        return self._path(project, self.registry.predictions, "predictions")

    def metrics_file(self, project: Project) -> Path:
        return self._path(project, self.registry.metrics, "metrics")

    def experiment_dir(self, project: Project) -> Path:
        """The folder of the experiment's results: the one holding its predictions."""
        return self.predictions_file(project).parent


UNKNOWN_EXPERIMENT_HINT = (
    "`artifactctl list` shows the experiments; `artifactctl new --from ID` adds one"
)
MAPPING_HINT = "params.yaml must hold `key: value` lines at the top, e.g. `experiments: {}`"


def load_experiments(project: Project) -> dict[str, Experiment]:
    return experiments_in(load_yaml(project.root / "params.yaml") or {}, registry=project.registry)


def experiments_in(
    params: Any, source: str = "params.yaml", registry: Registry | None = None
) -> dict[str, Experiment]:
    """The experiments a params document declares, their IDs and phases checked as names."""
    registry = registry or Registry()
    key = registry.experiments
    if not isinstance(params, dict):
        raise UsageError(f"{source} must be a mapping", hint=MAPPING_HINT)
    declared = params.get(key) or {}
    if not isinstance(declared, dict):
        raise UsageError(f"{source}: {key!r} must map IDs to settings")
    out = {}
    for exp_id, body in declared.items():
        exp_id = checked_id(exp_id, what="experiment ID", source=source)
        if not isinstance(body, dict):
            raise UsageError(f"{source}: experiment {exp_id} must be a mapping of its settings")
        phase = body.get("phase")
        out[exp_id] = Experiment(
            id=exp_id,
            # the phase may name a folder (models/<phase>/<ID>): one safe path component
            phase=""
            if phase is None
            else checked_id(phase, what=f"phase of {exp_id}", source=source),
            model=str(body.get("model", "")),
            params=dict(body),
            desc=str(body.get("desc", "")),
            registry=registry,
        )
    return out


def every_experiment(
    project: Project, params: Any = None, source: str = "params.yaml"
) -> dict[str, Experiment]:
    """The experiments of every registry of the repository (runs are not per family)."""
    if params is None:
        params = load_yaml(project.root / "params.yaml") or {}
    found: dict[str, Experiment] = {}
    for family in project.every_registry():
        found.update(experiments_in(params, source, registry=family.registry))
    return found


def owned_folders(project: Project) -> dict[str, list[Path]]:
    """ID -> the folders and files of its outputs (model, results, metrics), every registry.

    An entry whose templates cannot be filled owns nothing (``list`` and ``promote`` say why).
    """
    owned = {}
    for exp in every_experiment(project).values():
        try:
            paths = [exp.model_dir(project), exp.experiment_dir(project), exp.metrics_file(project)]
        except UsageError:
            continue
        owned[exp.id] = paths
    return owned


def model_folder(project: Project, exp_id: str, phase: str) -> Path:
    """Where a (perhaps no longer declared) experiment's model folder is or was."""
    exp = load_experiments(project).get(exp_id)
    if exp is None:
        exp = Experiment(exp_id, phase, "", {"phase": phase} if phase else {}, "", project.registry)
    try:
        return exp.model_dir(project)
    except UsageError:  # the template needs a field only the removed entry had
        return project.artifacts / layout.MODELS / (phase or "_") / exp_id


def get_experiment(project: Project, exp_id: str) -> Experiment:
    layout.validate_name(exp_id, "experiment ID")
    experiments = load_experiments(project)
    if exp_id not in experiments:
        known = ", ".join(sorted(experiments)) or "none"
        raise UsageError(
            f"unknown experiment {exp_id!r} (declared: {known})", hint=UNKNOWN_EXPERIMENT_HINT
        )
    return experiments[exp_id]


def read_metrics(path: Path) -> dict[str, Any]:
    """A metrics file (a folder: its metrics.json); {} when absent or unreadable."""
    try:
        data = read_json(path / "metrics.json" if path.is_dir() else path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
