"""Which dvc.yaml stages a run covers: the experiments' stages and what they need.

A stage belongs to an experiment when its foreach key is the experiment's ID
(``train@v2-006``). A test run orders the stages itself (dependencies first);
production hands the experiments' stages to DVC, which adds what is upstream.
"""

from __future__ import annotations

from typing import Any

from artifactctl import layout
from artifactctl.dvc.stages import Stage, load_stages
from artifactctl.errors import UsageError
from artifactctl.project import Project
from artifactctl.scope import overlaps


def check_experiments(project: Project, experiments: list[str]) -> list[str]:
    """The IDs, each a safe name and registered in params.yaml, without repeats.

    A repository without a dvc.yaml has nothing to run: bad input (exit 2), never an
    empty "ok" run.
    """
    if not (project.root / "dvc.yaml").is_file():
        raise UsageError(
            f"{project.root} has no dvc.yaml: there are no stages to run",
            hint="declare the pipeline's stages (`dvc stage add`), then `artifactctl run`",
        )
    from artifactctl.registry.experiments import UNKNOWN_EXPERIMENT_HINT, every_experiment

    for exp in experiments:
        layout.validate_name(exp, "experiment ID")
    known = every_experiment(project)
    for exp in experiments:
        if exp not in known:
            raise UsageError(
                f"unknown experiment {exp!r} (declared: {', '.join(sorted(known)) or 'none'})",
                hint=UNKNOWN_EXPERIMENT_HINT,
            )
    return list(dict.fromkeys(experiments))


def experiment_stages(stages: list[Stage], experiments: list[str]) -> list[Stage]:
    """The stages whose foreach key is one of ``experiments`` (each must have one)."""
    for exp in experiments:
        if not any(s.key == exp for s in stages):
            raise UsageError(f"experiment {exp!r} has no stage in dvc.yaml")
    return [s for s in stages if s.key in experiments]


def stages_for_test_run(
    project: Project, params: dict[str, Any], experiments: list[str]
) -> list[Stage]:
    """What a test run executes, in order: dvc.yaml resolved with ``params`` (strictly),
    narrowed to the experiments' stages and everything upstream of them."""
    return select(dag_order(load_stages(project.root, params, strict=True)), experiments)


def production_targets(project: Project, experiments: list[str]) -> list[str]:
    """DVC addresses of the experiments' stages; DVC adds what is upstream."""
    return [s.name for s in experiment_stages(load_stages(project.root), experiments)]


def upstream_of(stage: Stage, stages: list[Stage]) -> list[Stage]:
    """The stages that write something ``stage`` reads."""
    return [
        other
        for other in stages
        if other is not stage
        and any(_overlaps(dep, out) for dep in stage.deps for out in other.out_paths)
    ]


def _overlaps(a: str, b: str) -> bool:
    return overlaps(a.rstrip("/"), b.rstrip("/"))


def dag_order(stages: list[Stage]) -> list[Stage]:
    """Dependencies first; otherwise dvc.yaml's order. A cycle is a UsageError."""
    ordered: list[Stage] = []
    state: dict[str, int] = {}  # 1: being visited, 2: placed

    def visit(stage: Stage, chain: tuple[str, ...]) -> None:
        if state.get(stage.name) == 2:
            return
        if state.get(stage.name) == 1:
            raise UsageError(f"dvc.yaml: cycle through {' -> '.join((*chain, stage.name))}")
        state[stage.name] = 1
        for up in upstream_of(stage, stages):
            visit(up, (*chain, stage.name))
        state[stage.name] = 2
        ordered.append(stage)

    for stage in stages:
        visit(stage, ())
    return ordered


def select(stages: list[Stage], experiments: list[str]) -> list[Stage]:
    """The experiments' stages and everything upstream of them, in the order given
    (no experiments: every stage)."""
    if not experiments:
        return stages
    wanted = {s.name for s in experiment_stages(stages, experiments)}
    changed = True
    while changed:
        changed = False
        for stage in stages:
            if stage.name in wanted:
                for up in upstream_of(stage, stages):
                    if up.name not in wanted:
                        wanted.add(up.name)
                        changed = True
    return [s for s in stages if s.name in wanted]
