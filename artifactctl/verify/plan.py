"""Planning ``verify``: which files to hash and what each should hash to.

DVC outputs expand to their files through ``dvc.tracked.out_files`` (a tracked
folder through its ``.dir`` manifest); runs are planned in ``verify.runs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut, cache_object
from artifactctl.project import Project
from artifactctl.scope import inside, selected

Recorded = dict[str, dict[str, str] | None]  # output path -> its files (see out_files)


@dataclass(slots=True)
class Planned:
    """Files checked alike (one output's, one run's, or one cache object) and what
    each should hash to."""

    kind: str  # workspace | test_run | saved_run | cache
    artifact: str  # the tracked output or run folder (a cache object: its output)
    recorded_in: str  # dvc.lock, a .dvc file, a run manifest, or "object name"
    algorithm: str
    # path as reported (repository-relative; a cache object outside it: absolute) -> digest
    files: dict[str, str]
    sizes: dict[str, int] = field(default_factory=dict)  # where the record has them

    def only(self, scopes: list[str]) -> Planned:
        """The files a scope given on the command line selects (a path inside a
        tracked folder or a run checks only that file of it)."""
        if any(inside(self.artifact, scope) for scope in scopes):
            return self
        files = {path: d for path, d in self.files.items() if selected(path, scopes)}
        sizes = {path: n for path, n in self.sizes.items() if path in files}
        return Planned(self.kind, self.artifact, self.recorded_in, self.algorithm, files, sizes)


def plan_outs(outs: list[TrackedOut], recorded: Recorded) -> list[Planned]:
    """The outputs whose files are known (``recorded``), with their md5s."""
    planned = []
    for out in outs:
        files = recorded[out.path]
        if not files:
            continue
        if out.is_dir:  # a .dir manifest records no sizes
            planned.append(
                Planned("workspace", out.path, f"{out.source} ({out.md5})", "md5", files)
            )
        else:
            sizes = {out.path: out.size} if out.size is not None else {}
            planned.append(Planned("workspace", out.path, out.source, "md5", files, sizes))
    return planned


def plan_cache(project: Project, outs: list[TrackedOut], recorded: Recorded) -> list[Planned]:
    """The local cache objects the outputs use: each must hash to its name."""
    objects: dict[str, str] = {}  # object id -> the output it backs
    for out in outs:
        if not out.cache or not out.md5:
            continue
        objects.setdefault(out.md5, out.path)
        if out.is_dir:
            for md5 in (recorded[out.path] or {}).values():
                objects.setdefault(md5, out.path)
    return [
        Planned(
            "cache",
            artifact,
            "object name",
            "md5",
            {
                _display(project.root, cache_object(project.cache_dir, oid)): oid.removesuffix(
                    ".dir"
                )
            },
        )
        for oid, artifact in sorted(objects.items())
    ]


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
