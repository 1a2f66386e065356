"""push and pull of the objects the registry refers to (champions, archived experiments).

DVC's push and pull carry only the outputs dvc.lock records now; the champion
files of an experiment since retrained, and the archived folders, are not among
them. Their md5s come from the ledger and ``archived.json``
(:func:`artifactctl.registry.references.referenced_objects`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from artifactctl.dvc.tracked import cache_object
from artifactctl.hashing import md5_file
from artifactctl.project import Project
from artifactctl.registry.references import referenced_objects


@dataclass
class RegistryTransfer:
    objects: int  # referenced by the registry
    transferred: int
    missing: list[str] = field(default_factory=list)  # md5s found neither locally nor remotely
    failed: dict[str, str] = field(default_factory=dict)  # md5 -> why it was not pushed

    def to_dict(self) -> dict:
        return {
            "objects": self.objects,
            "transferred": self.transferred,
            "missing": self.missing,
            "failed": self.failed,
        }


def push_registry_objects(
    project: Project,
    remote: str,
    jobs: int = 0,
    send: Callable[[list[str]], tuple[list[str], dict[str, str]]] | None = None,
) -> RegistryTransfer:
    """Send every referenced object, first caching the ones only a registry folder holds.

    ``send(md5s) -> (sent, failed)``: push's own engine for the remote; None: DVC's.
    """
    from artifactctl.dvc import repo as dvcrepo

    refs = referenced_objects(project)
    to_cache, missing = [], []
    for md5, paths in sorted(refs.items()):
        if cache_object(project.cache_dir, md5).is_file():
            continue
        source = next((p for p in paths if _holds(p, md5)), None)
        if source is None:
            missing.append(md5)
        else:
            to_cache.append((source, md5))
    if to_cache:
        dvcrepo.cache_files(project.root, to_cache)
    present = sorted(md5 for md5 in refs if md5 not in missing)
    if send is None:
        sent = dvcrepo.transfer_objects(project.root, present, remote, upload=True, jobs=jobs)
        return RegistryTransfer(len(refs), sent, missing)
    done, failed = send(present)
    return RegistryTransfer(len(refs), len(done), missing, failed)


def fetch_registry_objects(project: Project, remote: str, jobs: int = 0) -> RegistryTransfer:
    """Bring every referenced object the cache lacks; list the ones the remote lacks too."""
    from artifactctl.dvc import repo as dvcrepo

    refs = referenced_objects(project)
    absent = [md5 for md5 in sorted(refs) if not cache_object(project.cache_dir, md5).is_file()]
    got = dvcrepo.transfer_objects(project.root, absent, remote, upload=False, jobs=jobs)
    missing = [md5 for md5 in absent if not cache_object(project.cache_dir, md5).is_file()]
    return RegistryTransfer(len(refs), got, missing)


def _holds(path: Path, md5: str) -> bool:
    with contextlib.suppress(OSError):
        return path.is_file() and md5_file(path) == md5
    return False
