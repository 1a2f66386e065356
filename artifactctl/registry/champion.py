"""The champion copies under ``artifacts/models/production/``, kept in step with the ledger.

``champion_current/`` and ``champion_previous/`` are plain, git-ignored copies of
the champions' model folders. Copies, not links: DVC may link workspace files to
its cache (hardlink/symlink/reflink cache types), and a link shared with the
cache would let an edit of the copy corrupt the cache object; copies of a few
model files are cheap. ``champion.json`` beside them is a git-ignored pointer
(ID, phase and each file's md5) derived from the ledger; since the md5s are
DVC's, the same objects stay in the DVC cache, and a fresh clone rebuilds the
copies from the pulled model folders or the cache.

The ledger is the truth; ``reconcile`` makes the copies match it and is
idempotent, so it both completes an interrupted promote/rollback and rebuilds
missing copies. It stages every slot completely under ``.staging/`` before it
swaps any, and keeps the replaced folders there until the swap is done, so every
file it may still need stays findable by its md5 at every moment.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from artifactctl.dvc.tracked import cache_object
from artifactctl.errors import IntegrityError
from artifactctl.fs.atomic import atomic_write_json, fsync_dir, read_json
from artifactctl.hashing import md5_file
from artifactctl.journal import step as journal_step
from artifactctl.project import Project
from artifactctl.registry.experiments import model_folder
from artifactctl.registry.folders import ensure_ignored, matches
from artifactctl.registry.ledger import Champion, RegistryState

CURRENT = "champion_current"
PREVIOUS = "champion_previous"
POINTER = "champion.json"
STAGING = ".staging"
# champion.json is derived from the ledger: tracked, two clones' versions would conflict
# in every merge; ignored, each clone rebuilds it from the merged ledger.
GITIGNORE = f"/{CURRENT}/\n/{PREVIOUS}/\n/{STAGING}/\n/{POINTER}\n"


def production_dir(project: Project) -> Path:
    return project.registry_dir


def slot_dir(project: Project, slot: str) -> Path:
    return production_dir(project) / slot


def reconcile(project: Project, state: RegistryState) -> bool:
    """Make the champion copies and the pointer match ``state``; True if anything changed."""
    prod = production_dir(project)
    prod.mkdir(parents=True, exist_ok=True)
    ensure_ignored(prod, GITIGNORE)
    staging = prod / STAGING
    wanted = {CURRENT: state.current, PREVIOUS: state.previous}
    changed = False
    for slot, champ in wanted.items():
        if champ is None or matches(prod / slot, champ.files):
            continue
        if not matches(staging / slot, champ.files):
            _build(project, champ, staging / slot)
            journal_step(f"staged-{slot}")
    for slot, champ in wanted.items():
        target = prod / slot
        if champ is not None and matches(target, champ.files):
            continue
        if target.exists():
            old = staging / f"{slot}.old"
            if old.exists():
                shutil.rmtree(old)
            staging.mkdir(exist_ok=True)
            os.rename(target, old)
            fsync_dir(prod)
            changed = True
            journal_step(f"removed-{slot}")
        if champ is not None:
            os.rename(staging / slot, target)
            fsync_dir(prod)
            changed = True
            journal_step(f"swapped-{slot}")
    if staging.exists():
        shutil.rmtree(staging)
    pointer = {
        "schema": "artifactctl.champion/1",
        "current": _describe(state.current),
        "previous": _describe(state.previous),
    }
    path = prod / POINTER
    try:
        same = read_json(path) == pointer
    except (OSError, ValueError):
        same = False
    if not same:
        atomic_write_json(path, pointer)
        changed = True
    return changed


def _describe(champ: Champion | None) -> dict | None:
    if champ is None:
        return None
    return {"id": champ.id, "phase": champ.phase, "files": champ.files, "event": champ.event_id}


def _sources(project: Project, champ: Champion) -> list[Path]:
    prod = production_dir(project)
    staging = prod / STAGING
    found = [prod / CURRENT, prod / PREVIOUS]
    if staging.is_dir():
        found += sorted(p for p in staging.iterdir() if p.is_dir())
    found.append(model_folder(project, champ.id, champ.phase))
    found.append(project.archive_dir / champ.id / "model")
    return found


def _build(project: Project, champ: Champion, dest: Path) -> None:
    """Assemble ``dest`` from any folder or cache object holding each file's md5."""
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    sources = _sources(project, champ)
    for rel, md5 in sorted(champ.files.items()):
        origin = _find(project, sources, rel, md5)
        if origin is None:
            shutil.rmtree(partial, ignore_errors=True)
            raise IntegrityError(
                f"cannot rebuild the copy of champion {champ.id}: no file with md5 {md5} "
                f"for {rel} in the workspace or the DVC cache",
                hint="run `dvc pull` (or `artifactctl pull`) and try again",
            )
        target = partial / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
    fsync_dir(partial)
    if dest.exists():
        shutil.rmtree(dest)
    os.rename(partial, dest)
    fsync_dir(dest.parent)


def _find(project: Project, sources: list[Path], rel: str, md5: str) -> Path | None:
    for folder in sources:
        candidate = folder / rel
        if candidate.is_file() and md5_file(candidate) == md5:
            return candidate
    obj = cache_object(project.cache_dir, md5)
    if obj.is_file() and md5_file(obj) == md5:
        return obj
    return None
