"""Path templates of the registry settings: ``models/{phase}/{id}``, ``out/{id}/metrics.json``.

A template is a relative POSIX path with ``{field}`` placeholders, nothing else: no format
specs, no attribute or index access. A field is ``id``, ``phase`` or any scalar field of
the experiment's params.yaml entry (or of the registry's family, e.g. ``{source}``).
params.yaml is input like any other file (invariant 8): each value put into a path must be
one safe path component, and the rendered path must stay relative with no ``..``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from artifactctl.errors import SettingsError, UsageError
from artifactctl.safepath import UntrustedMetadata, contained, validate_name

_FORMATTER = string.Formatter()


def fields_of(template: str) -> list[str]:
    """The placeholders of ``template`` in order (ValueError for a malformed one)."""
    found = []
    for _, name, spec, conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain field name")
        found.append(name)
    return found


def check_template(template: str, where: str) -> None:
    """A SettingsError (exit 2) unless ``template`` is a relative path of plain fields."""
    try:
        fields_of(template)
    except ValueError as exc:
        raise SettingsError(f"{where} {template!r}: {exc}") from None
    path = PurePosixPath(template)
    parts = [p for p in path.parts if p != "."]
    if not template.strip() or path.is_absolute() or ".." in parts or not parts:
        raise SettingsError(
            f"{where} {template!r} must be a relative path inside the artifacts root"
        )


def scalar_fields(entry: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a params.yaml entry a template may use (strings, numbers, booleans)."""
    return {
        str(k): str(v)
        for k, v in entry.items()
        if isinstance(v, str | int | float | bool) and str(k).isidentifier()
    }


def render(template: str, values: Mapping[str, str], *, what: str, source: str) -> str:
    """``template`` filled from ``values``: a normalised relative path.

    A field the entry does not have is bad input naming it; a value that is not one safe
    path component (``/``, ``..``, control characters) is untrusted metadata (exit 2).
    """
    filled = {}
    for name in fields_of(template):
        if name not in values:
            raise UsageError(
                f"{what}: the path template {template!r} needs {{{name}}}, "
                f"which {source} does not give",
                hint=f"add {name} to the entry, or change the template in [tool.artifactctl]",
            )
        try:
            filled[name] = validate_name(values[name], f"{{{name}}}")
        except UsageError as exc:
            raise UntrustedMetadata(f"{source}: {what}: {exc.message}") from None
    return contained(None, template.format_map(filled), what=what, source=source)


def family_tests_dir(template: str, fields: Mapping[str, str], where: str) -> str:
    """A registry's ``tests_dir`` filled from the family's ``fields`` (repository-relative).

    A SettingsError (exit 2) unless it is a relative path below a folder of the repository
    (its parent, the family's home, is not the repository itself) and every field is one
    of the family's, each value one safe folder name.
    """
    check_template(template, where)
    filled = {}
    for name in fields_of(template):
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise SettingsError(
                f"{where} {template!r} needs {{{name}}}, "
                f"not a field of the family (fields: {known})"
            )
        try:
            filled[name] = validate_name(fields[name], f"{{{name}}}")
        except UsageError as exc:
            raise SettingsError(f"{where}: fields.{name}: {exc.message}") from None
    parts = [p for p in PurePosixPath(template.format_map(filled)).parts if p != "."]
    if len(parts) < 2:
        raise SettingsError(
            f"{where} {template!r} must be a folder below a folder of the repository "
            '(its parent is the family\'s home), e.g. "data/{source}/tests"'
        )
    return "/".join(parts)
