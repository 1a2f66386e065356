"""Rebuild an archived experiment's git-ignored folders from the DVC cache or the remote.

``archived.json`` is committed, the folders it describes are not: in a teammate's
clone ``unarchive`` finds only the record. Every file is named there by md5, and
``artifactctl push`` sends those objects to the remote (issue 14), so the folders
can be rebuilt; when an object is nowhere, unarchive refuses before it changes
anything.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from artifactctl.dvc.tracked import cache_object
from artifactctl.errors import IntegrityError, RemoteError
from artifactctl.fs.atomic import fsync_dir
from artifactctl.hashing import md5_file
from artifactctl.project import Project

KEYS = ("model", "experiment")


def restore_archived_folders(project: Project, archived: Path, record: dict[str, Any]) -> list[str]:
    """Rebuild each absent folder under ``archived``; returns the ones rebuilt."""
    wanted = {}
    for key in KEYS:
        files = (record.get("files") or {}).get(key)
        if isinstance(files, dict) and files and not (archived / key).exists():
            wanted[key] = files
    if not wanted:
        return []
    needed = {md5 for files in wanted.values() for md5 in files.values()}
    absent = sorted(m for m in needed if not cache_object(project.cache_dir, m).is_file())
    if absent:
        _fetch(project, absent)
        absent = [m for m in absent if not cache_object(project.cache_dir, m).is_file()]
    if absent:
        raise RemoteError(
            f"cannot unarchive {record.get('id')}: {len(absent)} of its files are neither "
            f"in this clone nor on the remote (md5 {absent[0]}); nothing was changed",
            hint="run `artifactctl push` in the clone that archived it, then "
            "`artifactctl pull` here and unarchive again",
        )
    for key, files in wanted.items():
        _build(project, archived / key, files)
    return [project.rel(archived / key) for key in wanted]


def _fetch(project: Project, md5s: list[str]) -> None:
    from artifactctl.dvc import repo as dvcrepo
    from artifactctl.dvc.config import get_remote

    try:
        remote = get_remote(project.root).name
    except RemoteError:
        return  # no remote: the refusal names what is missing
    dvcrepo.transfer_objects(project.root, md5s, remote, upload=False)


def _build(project: Project, dest: Path, files: dict[str, str]) -> None:
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    for rel, md5 in sorted(files.items()):
        target = partial / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache_object(project.cache_dir, md5), target)
        if md5_file(target) != md5:
            shutil.rmtree(partial, ignore_errors=True)
            raise IntegrityError(
                f"the DVC cache object {md5} (for {rel}) is corrupted",
                hint="remove it and run `artifactctl pull` again",
            )
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
    fsync_dir(partial)
    os.rename(partial, dest)
    fsync_dir(dest.parent)
