"""``push``: upload what DVC recorded; local edits, preserved or not, are never committed here."""

from __future__ import annotations

from dataclasses import dataclass

from artifactctl.dvc.tracked import objects_absent
from artifactctl.project import Project
from artifactctl.sync.outputs import cached_outs, expand_outs, local_md5s
from artifactctl.sync.preserve import is_preserved
from artifactctl.sync.progress import ProgressFactory, disk_io, no_progress
from artifactctl.sync.registry_objects import RegistryTransfer, push_registry_objects

PUSH_SCHEMA = "artifactctl.push/1"


@dataclass
class PushReport:
    remote: str
    pushed: int
    objects: int
    outputs: int
    held_back: list[str]  # preserved files whose local content differs from DVC's record
    missing_from_cache: list[str]
    registry: RegistryTransfer | None = None  # None: targets were named

    def to_dict(self) -> dict:
        return {
            "schema": PUSH_SCHEMA,
            "remote": self.remote,
            "pushed": self.pushed,
            "objects": self.objects,
            "already_on_remote": max(0, self.objects - self.pushed),
            "outputs": self.outputs,
            "preserved_not_pushed": self.held_back,
            "missing_from_cache": self.missing_from_cache,
            "registry": self.registry.to_dict() if self.registry else None,
        }


def push(
    project: Project,
    targets: list[str] | None = None,
    *,
    remote: str | None = None,
    jobs: int = 0,
    progress: ProgressFactory | None = None,
) -> PushReport:
    """Upload the recorded objects of ``targets`` (everything when None) to ``remote``."""
    from artifactctl.dvc import repo as dvcrepo
    from artifactctl.dvc.config import get_remote

    progress = progress or no_progress
    remote_name = get_remote(project.root, remote).name
    rules = project.settings.preserve
    with project.lock():
        outs = cached_outs(project, targets)
        expanded = expand_outs(project, outs)
        files = {rel: md5 for _, f in expanded for rel, md5 in (f or {}).items()}
        objects = {o.md5 for o in outs if o.md5} | set(files.values())
        cache = project.cache_dir
        absent = objects_absent(cache, set(files.values()))
        missing = sorted(rel for rel, md5 in files.items() if md5 in absent)
        missing += [o.path for o, f in expanded if f is None]
        held = _preserved_differing(project, files, rules)
        total = float(sum(o.size or 0 for o in outs)) or None
        push_targets = [o.path for o in outs] if targets else None
        with (
            progress(f"pushing to '{remote_name}'", total) as advance,
            disk_io("rchar", advance),
        ):
            pushed = dvcrepo.push(project.root, push_targets, remote_name, jobs)
        # A teammate's clone rebuilds champions and unarchives from these (issue 14).
        registry = None if targets else push_registry_objects(project, remote_name, jobs)
    return PushReport(remote_name, pushed, len(objects), len(outs), held, sorted(missing), registry)


def _preserved_differing(project: Project, files: dict[str, str], rules: list[str]) -> list[str]:
    local = local_md5s(project, (rel for rel in files if is_preserved(rel, rules)))
    return sorted(rel for rel, md5 in local.items() if md5 != files[rel])
