"""Names that come from a URL: IDs and file names, checked before they touch a path.

Starlette decodes ``%2F`` before routing, so a file name may hold slashes; every
part must be a plain name (no ``..``, ``.``, empty part, backslash, NUL or other
control character) and the whole must be relative. Anything else is 404: a URL
that tries to leave its folder names nothing that exists.
"""

from __future__ import annotations

from artifactctl import layout
from artifactctl.errors import UsageError
from artifactctl.serve.errors import NotFound


def plain_name(value: str, what: str) -> str:
    """An ID (experiment, run, candidate): one safe path component, else NotFound."""
    try:
        return layout.validate_name(value, what)
    except UsageError as exc:
        raise NotFound(f"no such {what}: {exc}") from None


def relative_name(value: str, what: str = "file") -> str:
    """A file name relative to its folder, maybe with ``/``; each part plain, else NotFound."""
    parts = value.split("/")
    if value.startswith("/") or not all(_plain_part(p) for p in parts):
        raise NotFound(f"no such {what}: {value!r}")
    return "/".join(parts)


def _plain_part(part: str) -> bool:
    try:
        layout.validate_name(part)
    except UsageError:
        return False
    return True
