"""Every object the checked-out registry refers to, and where the workspace may hold it.

The ledger names the champion files by md5 (every promotion still on the stack,
so a rollback in a fresh clone works too) and each ``archived.json`` names the
archived folders' files. Those folders are git-ignored copies: a teammate's clone
gets the bytes only through the DVC remote, so ``push`` sends these objects and
``pull`` fetches them (issue 14).
"""

from __future__ import annotations

from pathlib import Path

from artifactctl.project import Project
from artifactctl.registry.archive import archived_records
from artifactctl.registry.champion import CURRENT, PREVIOUS, production_dir
from artifactctl.registry.experiments import model_folder
from artifactctl.registry.journaled import archive_root
from artifactctl.registry.ledger import state_of


def referenced_objects(project: Project) -> dict[str, list[Path]]:
    """md5 -> workspace files that may hold its bytes (checked by the caller), in order;
    over every registry of the repository (one family's clean must keep another's)."""
    found: dict[str, list[Path]] = {}
    for family in project.every_registry():
        for md5, paths in _referenced(family).items():
            found.setdefault(md5, []).extend(paths)
    return found


def _referenced(project: Project) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}

    def add(md5: object, path: Path) -> None:
        if isinstance(md5, str) and md5:
            found.setdefault(md5, []).append(path)

    prod = production_dir(project)
    for champ in state_of(project).stack:
        folders = [
            prod / CURRENT,
            prod / PREVIOUS,
            model_folder(project, champ.id, champ.phase),
            archive_root(project) / champ.id / "model",
        ]
        for rel, md5 in champ.files.items():
            for folder in folders:
                add(md5, folder / rel)
    for record in archived_records(project):
        # The dvc.lock entries unarchive puts back: their .dir listings, so status is ok after.
        for entry in (record.get("dvc_lock") or {}).values():
            for out in (entry or {}).get("outs") or []:
                if isinstance(out, dict):
                    found.setdefault(str(out.get("md5") or ""), [])
        files = record.get("files")
        if not isinstance(files, dict):
            continue
        for key in ("model", "experiment"):
            listing = files.get(key)
            if isinstance(listing, dict):
                folder = archive_root(project) / record["id"] / key
                for rel, md5 in listing.items():
                    add(md5, folder / rel)
    found.pop("", None)
    return found
