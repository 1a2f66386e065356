"""Reading DVC's YAML files (dvc.yaml, dvc.lock, *.dvc, params.yaml) fast and safely.

PyYAML's libyaml loader reads a 20,000-line lock file in milliseconds; a file
that does not parse is a UsageError naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from artifactctl.errors import UsageError


def load_yaml(path: Path, *, label: str | None = None) -> Any:
    """The parsed file, or None if it does not exist."""
    name = label or path.name
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}") from None
    import yaml  # only commands that read DVC's files pay for importing PyYAML

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{name} is not valid YAML{where}: {problem}", hint=f"fix {name} and run again"
        ) from None
