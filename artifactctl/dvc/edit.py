"""Round-trip edits of params.yaml and dvc.lock that keep comments and formatting.

ruamel.yaml (a DVC dependency) preserves comments, key order and quoting; the
result is written atomically. Only the registry edits these files: ``new`` adds
an experiment, ``archive`` removes it (and its ``train@ID``/``evaluate@ID``
entries from dvc.lock), ``unarchive`` puts both back.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_write_text


def _yaml(path: Path) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    if path.name != "dvc.lock":  # dvc.lock keeps DVC's own layout (ruamel's defaults)
        yaml.indent(mapping=2, sequence=4, offset=2)
    else:
        yaml.default_flow_style = False
    return yaml


def _load(path: Path) -> tuple[Any, Any]:
    from ruamel.yaml.error import YAMLError

    yaml = _yaml(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return yaml, None
    try:
        return yaml, yaml.load(text)
    except YAMLError as exc:
        raise UsageError(f"{path.name} is not valid YAML: {exc}") from None


def _dump(yaml: Any, data: Any, path: Path) -> None:
    buf = io.StringIO()
    yaml.dump(data, buf)
    atomic_write_text(path, buf.getvalue())


def plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (for JSON)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def to_text(node: Any, path_name: str = "params.yaml") -> str:
    """A node as YAML text: JSON records keep key order this way (JSON is written sorted)."""
    buf = io.StringIO()
    _yaml(Path(path_name)).dump(node, buf)
    return buf.getvalue()


def from_text(text: str) -> Any:
    return _yaml(Path("params.yaml")).load(text)


def experiment_text(params_file: Path, exp_id: str, key: str = "experiments") -> str | None:
    _, data = _load(params_file)
    exps = data.get(key) if isinstance(data, dict) else None
    if not isinstance(exps, dict) or exp_id not in exps:
        return None
    return to_text(exps[exp_id])


def lock_stages_text(lock_file: Path, names: list[str]) -> str:
    from ruamel.yaml.comments import CommentedMap

    _, data = _load(lock_file)
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return ""
    picked = CommentedMap((n, stages[n]) for n in names if n in stages)
    return to_text(picked, "dvc.lock") if picked else ""


def add_experiment(
    params_file: Path, exp_id: str, body: dict[str, Any] | str, key: str = "experiments"
) -> bool:
    """Add ``<key>.<exp_id>`` (in ID order); False if it is already there."""
    from ruamel.yaml.comments import CommentedMap

    yaml, data = _load(params_file)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise UsageError(
            "params.yaml must be a mapping",
            hint="params.yaml must hold `key: value` lines at the top, e.g. `experiments: {}`",
        )
    exps = data.get(key)
    if exps is None:
        exps = CommentedMap()
        data[key] = exps
    if not isinstance(exps, dict):
        raise UsageError(f"params.yaml: {key!r} must map IDs to settings")
    if exp_id in exps:
        return False
    node = from_text(body) if isinstance(body, str) else _mapping(body)
    keys = [str(k) for k in exps]
    position = sum(1 for k in keys if k < exp_id)
    if position >= len(keys):
        exps[exp_id] = node
    else:
        exps.insert(position, exp_id, node)
    _dump(yaml, data, params_file)
    return True


# Words YAML 1.1 (PyYAML, which artifactctl reads params.yaml with) takes for a boolean or
# null, where ruamel (YAML 1.2) writes them bare: quoted, they stay strings for both.
YAML11_WORDS = frozenset(
    form
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off", "null")
    for form in (word, word.capitalize(), word.upper())
) | {"~"}


def _mapping(body: dict[str, Any]) -> Any:
    """``body`` as a ruamel mapping whose strings read back as the same strings."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    def keep(value: Any) -> Any:
        quote = isinstance(value, str) and value in YAML11_WORDS
        return DoubleQuotedScalarString(value) if quote else value

    return CommentedMap((keep(k), keep(v)) for k, v in body.items())


def remove_experiment(
    params_file: Path, exp_id: str, key: str = "experiments"
) -> dict[str, Any] | None:
    """Remove ``<key>.<exp_id>``; returns its settings, or None if it was absent."""
    yaml, data = _load(params_file)
    exps = data.get(key) if isinstance(data, dict) else None
    if not isinstance(exps, dict) or exp_id not in exps:
        return None
    body = plain(exps[exp_id])
    del exps[exp_id]
    _dump(yaml, data, params_file)
    return body


def experiment_body(
    params_file: Path, exp_id: str, key: str = "experiments"
) -> dict[str, Any] | None:
    _, data = _load(params_file)
    exps = data.get(key) if isinstance(data, dict) else None
    if not isinstance(exps, dict) or exp_id not in exps:
        return None
    return plain(exps[exp_id])


def lock_stages(lock_file: Path, names: list[str]) -> dict[str, Any]:
    """The dvc.lock entries of ``names`` that exist, as plain data."""
    _, data = _load(lock_file)
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {name: plain(stages[name]) for name in names if name in stages}


def remove_lock_stages(lock_file: Path, names: list[str]) -> bool:
    yaml, data = _load(lock_file)
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict) or not any(n in stages for n in names):
        return False
    for name in names:
        stages.pop(name, None)
    _dump(yaml, data, lock_file)
    return True


def lock_positions(lock_file: Path, names: list[str]) -> dict[str, str | None]:
    """The neighbours of each of ``names`` in dvc.lock (to restore the order):
    ``{name: stage before, "<name> before": stage after}``."""
    _, data = _load(lock_file)
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return {}
    keys = [str(k) for k in stages]
    out: dict[str, Any] = {}
    for n in names:
        if n in keys:
            i = keys.index(n)
            out[n] = keys[i - 1] if i > 0 else None
            out[f"{n} before"] = keys[i + 1] if i + 1 < len(keys) else None
    return out


def restore_lock_stages(
    lock_file: Path, text: str, after: dict[str, str | None] | None = None
) -> bool:
    from ruamel.yaml.comments import CommentedMap

    entries = from_text(text) if text else None
    if not entries:
        return False
    yaml, data = _load(lock_file)
    if data is None:
        data = CommentedMap({"schema": "2.0", "stages": CommentedMap()})
    stages = data.setdefault("stages", CommentedMap())
    missing = {k: v for k, v in entries.items() if k not in stages}
    if not missing:
        return False
    for name, body in missing.items():
        keys = [str(k) for k in stages]
        prev = (after or {}).get(name)
        nxt = (after or {}).get(f"{name} before")
        if prev in keys and keys.index(prev) + 1 < len(keys):
            stages.insert(keys.index(prev) + 1, name, body)
        elif nxt in keys:
            stages.insert(keys.index(nxt), name, body)
        else:
            stages[name] = body
    _dump(yaml, data, lock_file)
    return True
