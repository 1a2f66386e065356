"""An experiment's DVC outputs: whether they were built, and whether they match dvc.lock.

An experiment is built when dvc.lock records every stage that dvc.yaml generates for it (a
``foreach`` over the registry's params key, whatever the stages are called: ``train@ID``
and ``evaluate@ID`` in the reference pipeline) and its model folder and predictions are in
the workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artifactctl.errors import NotVerified, UsageError
from artifactctl.project import Project
from artifactctl.registry.experiments import Experiment

if TYPE_CHECKING:
    from artifactctl.dvc.tracked import TrackedOut
    from artifactctl.status import ArtifactStatus


def stages(project: Project, exp_id: str) -> list[str]:
    """The dvc.yaml stages a ``foreach`` over the registry's params key makes for one ID."""
    from artifactctl.dvc.stages import foreach_over

    return [f"{name}@{exp_id}" for name in foreach_over(project.root, project.registry.experiments)]


def repro_hint(project: Project, exp_id: str) -> str:
    """The command that builds an experiment: its last stage (DVC runs what is upstream)."""
    names = stages(project, exp_id)
    return f"`dvc repro {names[-1]}`" if names else "`dvc repro`"


def recorded_stages(project: Project) -> set[str]:
    """Every stage name dvc.lock records outputs for."""
    from artifactctl.dvc.tracked import tracked_outs

    return {o.stage for o in tracked_outs(project.root) if o.stage}


def _stage_outs(project: Project, exp_id: str) -> list[TrackedOut]:
    from artifactctl.dvc.tracked import tracked_outs

    names = set(stages(project, exp_id))
    return [o for o in tracked_outs(project.root) if o.stage in names]


def is_built(project: Project, exp: Experiment, recorded: set[str] | None = None) -> bool:
    """Both stages are in dvc.lock and the model folder and predictions are present.

    ``recorded``: the stage names dvc.lock records, when the caller already read them.
    """
    if recorded is None:
        recorded = {o.stage for o in _stage_outs(project, exp.id) if o.stage}
    return (
        set(stages(project, exp.id)) <= recorded
        and exp.model_dir(project).is_dir()
        and exp.predictions_file(project).is_file()
    )


def require_built(project: Project, exp: Experiment) -> None:
    if not is_built(project, exp):
        raise UsageError(
            f"experiment {exp.id} is not built (no model or predictions recorded in dvc.lock)",
            hint=f"run {repro_hint(project, exp.id)} (or `artifactctl pull`) first",
        )


def file_states(project: Project, exp: Experiment) -> list[ArtifactStatus]:
    """status of the experiment's DVC outputs (model folder, predictions, metrics, ...)."""
    from artifactctl.status import collect_status

    folders = (exp.model_dir(project), exp.experiment_dir(project), exp.metrics_file(project))
    paths = list(dict.fromkeys(str(p) for p in folders if p.exists()))
    if not paths or not _stage_outs(project, exp.id):
        return []
    try:
        return collect_status(project, paths).artifacts
    except UsageError:
        return []


def verify_experiment(project: Project, exp: Experiment) -> None:
    """NotVerified (a refusal, exit 2) unless every output matches dvc.lock."""
    bad = []
    for a in file_states(project, exp):
        if a.state in ("missing", "modified") or (
            a.state == "not_in_cache" and "manifest" in a.detail
        ):
            bad.append(f"{a.path} ({a.state}{': ' + a.detail if a.detail else ''})")
    if bad:
        raise NotVerified(
            f"experiment {exp.id} fails checksum verification against dvc.lock: " + "; ".join(bad),
            hint="restore it with `dvc checkout` or rebuild it with " + repro_hint(project, exp.id),
        )
