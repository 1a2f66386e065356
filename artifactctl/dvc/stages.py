"""dvc.yaml read once into resolved stages: the one ``foreach`` / ``${...}`` resolver.

Every reader of dvc.yaml goes through ``load_stages``: ``tracked`` learns which
outputs are metrics or plots and which are not cached, ``status`` which stages
never ran, and a test run what to execute. A ``${...}`` is resolved from the
foreach ``key`` and ``item`` first, then from params.yaml (dotted keys); DVC's
``vars`` are not read.

Two tolerances, because the readers need different things:

- lenient (the default): a ``${...}`` that cannot be resolved stays as written;
  the path then matches nothing DVC recorded, which is the honest answer.
- strict (for a test run, which executes the stages itself): an unresolvable
  ``${...}``, a stage without a command and a stage with a ``wdir`` are UsageErrors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifactctl.dvc.yamlio import load_yaml
from artifactctl.errors import UsageError

TEMPLATE = re.compile(r"\$\{[^}]*\}")
# dvc.yaml's output sections and the kind each declares
SECTIONS = (("outs", "out"), ("metrics", "metrics"), ("plots", "plots"))


@dataclass(frozen=True)
class Output:
    path: str  # resolved, as written (relative to the stage's wdir)
    kind: str  # out | metrics | plots
    cache: bool = True
    persist: bool = False


@dataclass(frozen=True)
class Stage:
    """A dvc.yaml stage, or one foreach instance of it, with every ``${...}`` resolved."""

    name: str  # "train@v2-006" for a foreach instance
    key: str | None  # the foreach key (an experiment ID for train/evaluate)
    cmd: str  # the commands joined with " && ": DVC stops at the first that fails
    deps: tuple[str, ...]
    outs: tuple[Output, ...]  # outs, then metrics, then plots
    wdir: str | None = None

    @property
    def out_paths(self) -> tuple[str, ...]:
        return tuple(out.path for out in self.outs)


def load_dvc_yaml(root: Path) -> dict[str, Any] | None:
    spec = load_yaml(root / "dvc.yaml")
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("stages", {}), dict):
        raise UsageError("dvc.yaml has no valid 'stages' mapping", hint="see `dvc repro -h`")
    return spec


def load_stages(
    root: Path, params: dict[str, Any] | None = None, *, strict: bool = False
) -> list[Stage]:
    """dvc.yaml's stages in file order, foreach instances expanded.

    ``params``: what ``${...}`` resolves against (default: params.yaml; a test run
    passes its -S overrides applied).
    """
    declared = (load_dvc_yaml(root) or {}).get("stages") or {}
    if not declared:
        return []
    if params is None:
        params = load_yaml(root / "params.yaml") or {}
    return [
        _stage(name, key, item, body, params, strict)
        for name, spec in declared.items()
        for key, item, body in _instances(name, spec, params)
    ]


def declared_kinds(root: Path) -> dict[str, tuple[str, bool]]:
    """Resolved output path -> (kind, cache), as dvc.yaml declares them."""
    return {out.path: (out.kind, out.cache) for stage in load_stages(root) for out in stage.outs}


def expected_stages(root: Path) -> list[str]:
    """Stage names dvc.yaml declares, foreach instances as ``name@key``."""
    return [stage.name for stage in load_stages(root)]


def lookup(data: Any, dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _instances(name: str, spec: Any, params: dict[str, Any]) -> list[tuple[str | None, Any, dict]]:
    """(key, item, body) of a stage: itself, or one per foreach entry."""
    if not isinstance(spec, dict):
        raise UsageError(f"dvc.yaml: stage {name!r} must be a mapping")
    if "foreach" not in spec:
        return [(None, None, spec)]
    items = spec["foreach"]
    if isinstance(items, str):
        text = items.strip()
        items = lookup(params, text[2:-1].strip()) if text.startswith("${") else None
    body = spec.get("do") or {}
    if not isinstance(body, dict):
        raise UsageError(f"dvc.yaml: stage {name!r}: 'do' must be a mapping")
    if isinstance(items, dict):
        return [(str(k), v, body) for k, v in items.items()]
    if isinstance(items, list):
        return [(str(v), v, body) for v in items]
    return []


def _resolver(
    key: str | None, item: Any, params: dict[str, Any], strict: bool
) -> Callable[[str], str]:
    def value(match: re.Match[str]) -> str:
        expr = match.group(0)[2:-1].strip()
        if expr == "key" and key is not None:
            return key
        if expr == "item" and item is not None and not isinstance(item, dict):
            return str(item)
        if expr.startswith("item.") and isinstance(item, dict):
            found = lookup(item, expr[5:])
        else:
            found = lookup(params, expr)
        if found is None or isinstance(found, dict | list):
            if strict:
                raise UsageError(f"dvc.yaml: cannot resolve ${{{expr}}} for a test run")
            return match.group(0)
        return str(found)

    return lambda text: TEMPLATE.sub(value, text)


def _entries(section: Any) -> list[tuple[str, dict[str, Any]]]:
    """(path, options) of each entry of a deps/outs/metrics/plots list."""
    found = []
    for entry in section or []:
        if isinstance(entry, dict):
            path, opts = next(iter(entry.items()))
            found.append((str(path), opts if isinstance(opts, dict) else {}))
        else:
            found.append((str(entry), {}))
    return found


def _commands(name: str, raw: Any, strict: bool) -> list[str]:
    cmds = raw if isinstance(raw, list) else [raw]
    if all(isinstance(c, str) and c for c in cmds):
        return cmds
    if strict:
        raise UsageError(f"dvc.yaml: stage {name!r} has no command")
    return [c for c in cmds if isinstance(c, str) and c]


def _stage(
    name: str, key: str | None, item: Any, body: dict, params: dict[str, Any], strict: bool
) -> Stage:
    cmds = _commands(name, body.get("cmd"), strict)
    wdir = body.get("wdir")
    if strict and wdir not in (None, "."):
        raise UsageError(f"dvc.yaml: stage {name!r} uses wdir, which test runs do not support")
    resolve = _resolver(key, item, params, strict)
    outs = tuple(
        Output(
            resolve(path),
            kind,
            cache=bool(opts.get("cache", True)),
            persist=bool(opts.get("persist", False)),
        )
        for section, kind in SECTIONS
        for path, opts in _entries(body.get(section))
    )
    return Stage(
        name=name if key is None else f"{name}@{key}",
        key=key,
        cmd=" && ".join(resolve(c) for c in cmds),
        deps=tuple(resolve(path) for path, _ in _entries(body.get("deps"))),
        outs=outs,
        wdir=None if wdir is None else str(wdir),
    )
