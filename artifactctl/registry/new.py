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

# What a model kind means is the pipeline's business: `new` keeps no list of kinds.
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
    reg = project.registry
    state = state or state_of(project)
    highest = state.high_water.get(reg.id_prefix, 0)
    seen = list(load_experiments(project))
    archive = project.archive_dir
    if archive.is_dir():
        seen += [p.name for p in archive.iterdir() if p.is_dir()]
    for exp_id in seen:
        parts = split_id(exp_id)
        if parts and parts[0] == reg.id_prefix:
            highest = max(highest, parts[1])
    return f"{reg.id_prefix}{highest + 1:0{reg.id_width}d}"


def new_experiment(
    project: Project,
    model: str | None = None,
    phase: str | None = None,
    sets: list[str] | None = None,
    desc: str = "",
    source: str | None = None,
) -> NewResult:
    """Declare the next experiment: a copy of ``source``'s entry (``--from``) or a new
    entry of ``model`` (``--model``), with ``phase``, ``desc`` and ``-S`` values applied."""
    from artifactctl.dvc.edit import add_experiment

    body = _base_body(project, model, source)
    if phase is not None:
        _check_phase(project, phase)
        body["phase"] = phase
    elif source is None:
        body["phase"] = "candidates"
    if model is not None:
        body["model"] = model
    body.update(parse_sets(sets or []))
    if desc:
        body["desc"] = desc
    with project.lock():
        exp_id = next_id(project)
        # The ledger records the allocation first: an ID once handed out is never reused.
        event = make_event("new", exp_id, phase=body.get("phase"), model=body.get("model"))
        if source is not None:
            event["copied_from"] = source
        append_event(project, event)
        add_experiment(project.root / "params.yaml", exp_id, body, project.registry.experiments)
    return NewResult(exp_id, str(body.get("phase", "")), str(body.get("model", "")), body)


def _base_body(project: Project, model: str | None, source: str | None) -> dict[str, Any]:
    if source is None:
        if model is None or not model.strip():
            raise UsageError(
                "say what the new experiment is",
                hint="pass --from ID (a copy of that entry) or --model KIND",
            )
        return {}
    from artifactctl.registry.experiments import get_experiment

    body = dict(get_experiment(project, source).params)
    body.pop("desc", None)  # a description says what differs; the copy's is its own
    return body


def _check_phase(project: Project, phase: str) -> None:
    """The reference phases, or one an experiment of this registry already uses."""
    known = set(layout.PHASES) | {e.phase for e in load_experiments(project).values() if e.phase}
    if phase not in known:
        raise UsageError(f"phase must be one of {', '.join(sorted(known))}, got {phase!r}")
