"""Which tracked outputs and files a command works on: one answer for every command.

A scope is a repository-relative POSIX path ("" is the whole repository) made from
a path the user gave. An output is selected by a scope when one lies inside the
other: ``status models`` selects every output under ``models/``, and
``verify models/v1/model.pkl`` selects the tracked folder ``models/v1`` (and then
checks only that file of it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut, out_files
from artifactctl.errors import UsageError
from artifactctl.project import Project


def repo_path(project: Project, given: str) -> str:
    """``given`` (relative to the working folder, or absolute) as a scope; outside: UsageError."""
    full = Path(os.path.abspath(given))
    try:
        rel = full.relative_to(project.root).as_posix()
    except ValueError:
        raise UsageError(
            f"{given}: outside the repository {project.root}",
            hint="name a path inside the repository (see `artifactctl status`)",
        ) from None
    return "" if rel == "." else rel


def user_scope(project: Project, given: str, names_something: Callable[[str], bool]) -> str:
    """A path the user typed, as a scope: relative to the working folder, or, when nothing
    is there, relative to the artifacts root (as status prints paths: `status models`)."""
    scope = repo_path(project, given)
    if names_something(scope) or os.path.isabs(given) or os.path.lexists(given):
        return scope
    top = artifacts_scope(project)
    if top:
        alt = repo_path(project, os.path.join(project.root, top, given))
        if names_something(alt):
            return alt
    return scope


def artifacts_scope(project: Project) -> str:
    """The artifacts root as a scope ("." in the settings is the whole repository)."""
    top = project.settings.artifacts_root.strip("/")
    return "" if top in (".", "") else top


def elsewhere_warning(project: Project, outs: list[TrackedOut], checked: int) -> str | None:
    """When nothing under the artifacts root was checked but DVC tracks outputs elsewhere:
    the warning that keeps "0 files checked" from reading as "all ok"."""
    top = artifacts_scope(project)
    outside = sorted(o.path for o in outs if not inside(o.path, top))
    if checked or not outside:
        return None
    shown = ", ".join(outside[:3]) + (", ..." if len(outside) > 3 else "")
    return (
        f"nothing checked under the artifacts root {project.settings.artifacts_root!r}, but DVC "
        f"tracks {len(outside)} output(s) elsewhere ({shown}); set artifacts_root in "
        '[tool.artifactctl] (artifacts_root = "." is the whole repository)'
    )


def inside(path: str, top: str) -> bool:
    """``path`` is ``top`` or below it ("" contains everything)."""
    return top == "" or path == top or path.startswith(top + "/")


def overlaps(a: str, b: str) -> bool:
    """One of the two paths lies inside the other."""
    return inside(a, b) or inside(b, a)


def selected(path: str, scopes: Iterable[str]) -> bool:
    """No scopes: everything. Else ``path`` overlaps one of them."""
    scopes = list(scopes)
    return not scopes or any(overlaps(path, s) for s in scopes)


def select_outs(
    project: Project,
    outs: Iterable[TrackedOut],
    paths: Iterable[str] | None,
    *,
    default: str | None = None,
    what: str = "DVC-tracked artifact",
) -> list[TrackedOut]:
    """The outputs the user's ``paths`` select (each path must select one), sorted by path.

    No paths: the outputs inside ``default`` (None: all of them).
    """
    outs = list(outs)
    given = list(paths or [])
    if not given:
        return sorted(
            (o for o in outs if default is None or inside(o.path, default)), key=lambda o: o.path
        )
    chosen: dict[str, TrackedOut] = {}
    for text in given:
        scope = user_scope(project, text, lambda s: any(overlaps(o.path, s) for o in outs))
        hits = [o for o in outs if overlaps(o.path, scope)]
        if not hits:
            raise UsageError(f"{text}: no {what} there", hint="see `artifactctl status`")
        chosen.update((o.path, o) for o in hits)
    return sorted(chosen.values(), key=lambda o: o.path)


def expected_files(project: Project, outs: Iterable[TrackedOut]) -> dict[str, str]:
    """Repository-relative file -> recorded md5 of the outputs (folders through their
    ``.dir`` manifest; a folder whose manifest is not in the cache adds nothing)."""
    found: dict[str, str] = {}
    for out in outs:
        found.update(out_files(project.cache_dir, out) or {})
    return found
