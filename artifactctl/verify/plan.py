"""Planning ``verify``: which files to hash and what each should hash to.

DVC outputs expand to their files through ``dvc.tracked.out_files`` (a tracked
folder through its ``.dir`` manifest); runs are planned in ``verify.runs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut, cache_object
from artifactctl.project import Project
from artifactctl.scope import selected

Recorded = dict[str, dict[str, str] | None]  # output path -> its files (see out_files)


@dataclass(frozen=True, slots=True)
class Source:
    """What a file is checked against (shared by every file of one output or run)."""

    kind: str  # workspace | test_run | saved_run | cache
    artifact: str  # the tracked output or run folder
    recorded_in: str  # dvc.lock, a .dvc file, a run manifest, or "object name"
    algorithm: str = "md5"


@dataclass(slots=True)
class Expected:
    """A file to hash and what it should hash to."""

    path: str  # as reported: repository-relative (a cache object outside it: absolute)
    file: str  # what to open
    digest: str
    source: Source
    size: int | None = None  # the recorded size, when the record has one
    key: str = ""  # its key in the hash state ("": path)

    @property
    def state_key(self) -> str:
        return self.key or self.path


def plan_outs(project: Project, outs: list[TrackedOut], recorded: Recorded) -> list[Expected]:
    """Every file of the outputs whose files are known (``recorded``), with its md5."""
    root = str(project.root)
    planned = []
    for out in outs:
        files = recorded[out.path]
        if not files:
            continue
        if out.is_dir:
            source = Source("workspace", out.path, f"{out.source} ({out.md5})")
            size = None  # a .dir manifest records no sizes
        else:
            source = Source("workspace", out.path, out.source)
            size = out.size
        planned += [Expected(rel, f"{root}/{rel}", md5, source, size) for rel, md5 in files.items()]
    return planned


def plan_cache(project: Project, outs: list[TrackedOut], recorded: Recorded) -> list[Expected]:
    """The local cache objects the outputs use: each must hash to its name."""
    objects: dict[str, str] = {}  # object id -> the output it backs
    for out in outs:
        if not out.cache or not out.md5:
            continue
        objects.setdefault(out.md5, out.path)
        if out.is_dir:
            for md5 in (recorded[out.path] or {}).values():
                objects.setdefault(md5, out.path)
    planned = []
    for oid, artifact in sorted(objects.items()):
        path = cache_object(project.cache_dir, oid)
        name = oid.removesuffix(".dir")
        planned.append(
            Expected(
                _display(project.root, path),
                str(path),
                name,
                Source("cache", artifact, "object name"),
                key=f"cache:{name}",
            )
        )
    return planned


def narrow(planned: list[Expected], scopes: list[str]) -> list[Expected]:
    """The files a scope given on the command line selects (a path inside a tracked
    folder or a run checks only that file of it)."""
    return [e for e in planned if selected(e.path, scopes)]


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
