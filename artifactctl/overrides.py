"""``-S key=value`` overrides: parsed once for `run` (dotted params keys) and `new`."""

from __future__ import annotations

from typing import Any

from artifactctl.errors import UsageError


def parse_value(item: str, raw: str) -> Any:
    """A YAML scalar (``0.5`` is a number, ``true`` a bool); UsageError for a list or mapping."""
    import yaml

    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list):
        raise UsageError(f"-S {item!r}: only single values can be overridden")
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (dotted key, YAML-typed value): ``-S data.seed=7``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(f"-S {text!r} must look like key=value (key may be dotted: data.seed=7)")
    return key, parse_value(text, raw)


def apply_overrides(params: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``params`` with dotted-key overrides set; every key must already exist."""
    import copy

    out = copy.deepcopy(params)
    for dotted, value in overrides.items():
        node: Any = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"-S {dotted}: params.yaml has no {part!r} here")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise UsageError(
                f"-S {dotted}: params.yaml has no such parameter",
                hint="-S can only change parameters that params.yaml declares",
            )
        if isinstance(node[parts[-1]], dict):
            raise UsageError(f"-S {dotted}: is a group of parameters, not one value")
        node[parts[-1]] = value
    return out


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Several ``-S`` options, in order (a later one wins)."""
    return dict(parse_override(item) for item in items)
