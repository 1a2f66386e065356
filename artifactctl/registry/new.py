"""``new``: allocate the next experiment ID and declare the experiment in params.yaml.

An ID once handed out is never reused: the next one is past the highest ever seen
in the ledger (which records every allocation), params.yaml and the archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.overrides import parse_value
from artifactctl.project import Project
from artifactctl.registry.experiments import load_experiments
from artifactctl.registry.ledger import (
    RegistryState,
    append_event,
    make_event,
    split_id,
    state_of,
)

# The kinds artifactctl/pipeline/train.py MODEL_KINDS builds (a test keeps them equal);
# kept here so that validating --model imports neither pandas nor sklearn.
MODEL_KINDS = ("ridge", "lasso", "gbr", "random_forest")
RESERVED_KEYS = frozenset({"phase", "model", "desc"})
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class NewResult:
    id: str
    phase: str
    model: str
    params: dict[str, Any]


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``-S key=value`` pairs; values are YAML scalars (``0.5`` is a number)."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise UsageError(f"-S {item!r}: expected key=value with a simple key name")
        if key in RESERVED_KEYS:
            raise UsageError(f"-S {key}=...: use --{key} instead")
        out[key] = parse_value(item, raw)
    return out


def next_id(project: Project, state: RegistryState | None = None) -> str:
    """One past the highest ID ever seen: in the ledger, params.yaml or the archive."""
    reg = project.settings.registry
    state = state or state_of(project)
    highest = state.high_water.get(reg.id_prefix, 0)
    seen = list(load_experiments(project))
    archive = project.artifacts / layout.ARCHIVE
    if archive.is_dir():
        seen += [p.name for p in archive.iterdir() if p.is_dir()]
    for exp_id in seen:
        parts = split_id(exp_id)
        if parts and parts[0] == reg.id_prefix:
            highest = max(highest, parts[1])
    return f"{reg.id_prefix}{highest + 1:0{reg.id_width}d}"


def new_experiment(
    project: Project,
    model: str,
    phase: str = "candidates",
    sets: list[str] | None = None,
    desc: str = "",
) -> NewResult:
    from artifactctl.dvc.edit import add_experiment

    if model not in MODEL_KINDS:
        raise UsageError(f"unknown model kind {model!r}; known: {', '.join(MODEL_KINDS)}")
    if phase not in layout.PHASES:
        raise UsageError(f"phase must be one of {', '.join(layout.PHASES)}, got {phase!r}")
    extra = parse_sets(sets or [])
    body: dict[str, Any] = {"phase": phase, "model": model, **extra}
    if desc:
        body["desc"] = desc
    with project.lock():
        exp_id = next_id(project)
        # The ledger records the allocation first: an ID once handed out is never reused.
        append_event(project, make_event("new", exp_id, phase=phase, model=model))
        add_experiment(project.root / "params.yaml", exp_id, body)
    return NewResult(exp_id, phase, model, body)
