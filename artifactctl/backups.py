"""Backups of local files a command replaces, kept outside every DVC-tracked folder.

The one place for backups: ``pull --force`` and ``pull --prefer-remote PATH``, and
production runs / ``refresh`` (for preserved files in the outputs a stage rewrites),
copy the local file to
``.artifactctl/backups/<stamp>/<original path>`` before the remote version
replaces it, and describe the copies in ``.artifactctl/backups/<stamp>.json``
(the md5 that replaced each one, and why). Outside the tracked folders, a backup
changes nothing DVC or ``status`` compares, and ``dvc checkout`` / ``dvc repro``,
which delete what they find inside an output folder, never see it.
``.artifactctl/`` carries its own ``.gitignore`` and ``.dvcignore`` (``*``), so a
clone needs no edit of a tracked file, and a backed-up ``dvc.yaml`` or ``*.dvc``
file is not mistaken by DVC for a stage file.

``restore`` copies a backup back through the atomic writer: the original path
holds the old file or the whole backup, whatever happens.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from artifactctl.errors import UsageError
from artifactctl.fs.atomic import atomic_copy, atomic_write_json, atomic_write_text, read_json
from artifactctl.hashing import md5_file, walk_files
from artifactctl.project import Project
from artifactctl.safepath import UntrustedMetadata, checked_md5, contained

SCHEMA = "artifactctl.backups/1"
STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_RE = re.compile(r"\d{8}T\d{6}Z")
IGNORE_ALL = "# artifactctl's local state (pull backups): never committed, never tracked\n*\n"


@dataclass
class Backup:
    path: str  # the backup, repository-relative
    original: str  # the path it was copied from (and is restored to)
    when: str  # ISO-8601 UTC
    size: int
    md5: str | None  # None: unreadable
    replaced_by: str | None = None  # md5 of what the pull wrote over the original
    reason: str = ""


@dataclass
class BackupListing:
    folder: str
    backups: list[Backup] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "folder": self.folder,
            "backups": [asdict(b) for b in self.backups],
        }


@dataclass
class RestoreResult:
    backup: str
    original: str
    state: str  # restored | unchanged
    saved: str | None = None  # the overwritten local file's own backup (--force)

    def to_dict(self) -> dict:
        return asdict(self)


def ensure_home(project: Project) -> Path:
    """The backups folder, with the ignore files that keep git and DVC out of it."""
    home = project.backups_dir.parent
    home.mkdir(parents=True, exist_ok=True)
    for name in (".gitignore", ".dvcignore"):
        if not (home / name).is_file():
            atomic_write_text(home / name, IGNORE_ALL)
    project.backups_dir.mkdir(exist_ok=True)
    return project.backups_dir


def make_backups(project: Project, items: list[tuple[str, str | None, str]]) -> dict[str, str]:
    """Copy each (path, md5 replacing it or None, reason) to a new stamp folder; {path: backup}."""
    if not items:
        return {}
    base = ensure_home(project)
    seconds = calendar.timegm(time.gmtime())
    while (base / _stamp(seconds)).exists() or (base / f"{_stamp(seconds)}.json").exists():
        seconds += 1
    stamp = _stamp(seconds)
    made: dict[str, str] = {}
    files: dict[str, dict] = {}
    for rel, replaced_by, reason in items:
        copy = base / stamp / rel
        atomic_copy(project.root / rel, copy)
        made[rel] = project.rel(copy)
        files[rel] = {
            "md5": md5_file(copy),
            "size": copy.stat().st_size,
            "replaced_by": replaced_by,
            "reason": reason,
        }
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    atomic_write_json(base / f"{stamp}.json", {"schema": SCHEMA, "when": when, "files": files})
    return made


def _stamp(seconds: int) -> str:
    return time.strftime(STAMP, time.gmtime(seconds))


def list_backups(project: Project) -> BackupListing:
    """Every backup, newest first; each file hashed now (the manifest only adds context)."""
    base = project.backups_dir
    listing = BackupListing(folder=project.rel(base))
    if not base.is_dir():
        return listing
    stamps = sorted((p for p in base.iterdir() if _STAMP_RE.fullmatch(p.name)), reverse=True)
    for folder in stamps:
        if folder.is_symlink() or not folder.is_dir():
            continue
        recorded = _manifest(project, folder)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(folder.name, STAMP))
        for path in walk_files(folder):
            if path.is_symlink():
                continue  # only copies pull made: a link could restore bytes from elsewhere
            original = path.relative_to(folder).as_posix()
            try:
                md5: str | None = md5_file(path)
                size = path.stat().st_size
            except OSError:
                md5, size = None, 0
            info = recorded.get(original, {})
            listing.backups.append(
                Backup(
                    path=project.rel(path),
                    original=original,
                    when=when,
                    size=size,
                    md5=md5,
                    replaced_by=info.get("replaced_by"),
                    reason=info.get("reason", ""),
                )
            )
    return listing


def _manifest(project: Project, folder: Path) -> dict[str, dict]:
    """The stamp's manifest, each entry checked; an unreadable one adds nothing."""
    source = project.rel(folder.with_name(folder.name + ".json"))
    try:
        doc = read_json(folder.with_name(folder.name + ".json"))
    except (OSError, ValueError):
        return {}
    files = doc.get("files") if isinstance(doc, dict) else None
    found: dict[str, dict] = {}
    for rel, info in (files or {}).items() if isinstance(files, dict) else ():
        try:
            rel = contained(None, rel, what="backed-up path", source=source)
            replaced = info.get("replaced_by") if isinstance(info, dict) else None
            found[rel] = {
                "replaced_by": checked_md5(replaced, what="replaced_by", source=source)
                if replaced is not None
                else None,
                "reason": str(info.get("reason", ""))[:200],
            }
        except UntrustedMetadata:
            continue  # a tampered entry: the backup is still listed, without context
    return found


def find_backup(project: Project, given: str) -> Backup:
    """A backup named by its own path, or the newest backup of an original path."""
    from artifactctl.scope import repo_path

    rel = repo_path(project, given)
    backups = list_backups(project).backups
    for b in backups:
        if rel in (b.path, b.original):
            return b  # newest first: the latest backup of an original path
    raise UsageError(
        f"{given}: no backup of that path, and not a backup",
        hint="list them with `artifactctl preserve backups`",
    )


def restore(project: Project, given: str, force: bool = False) -> RestoreResult:
    """Put a backup back at its original path (the backup stays where it is).

    The current file is overwritten without ``force`` only if it is what the pull
    wrote over it (its md5 is the manifest's ``replaced_by``), so nothing that
    exists nowhere else is lost; with ``force`` such a file is itself backed up first.
    """
    with project.lock():
        backup = find_backup(project, given)
        source = project.rel(project.backups_dir)
        original = contained(project.root, backup.original, what="backed-up path", source=source)
        dest = project.root / original
        if backup.md5 is None:
            raise UsageError(f"{backup.path}: the backup cannot be read")
        current = _md5_or_none(dest)
        if dest.is_dir() and not dest.is_symlink():
            raise UsageError(f"{original} is a folder now; restore the backup by hand")
        if current == backup.md5:
            return RestoreResult(backup.path, original, "unchanged")
        saved = None
        if current is not None and current != backup.replaced_by:
            if not force:
                raise UsageError(
                    f"{original} was changed since the pull replaced it; refusing to overwrite",
                    hint=f"`artifactctl preserve restore {backup.path} --force` backs it up "
                    "first, then restores",
                )
            made = make_backups(project, [(original, backup.md5, "preserve restore --force")])
            saved = made[original]
        atomic_copy(project.root / backup.path, dest)
        return RestoreResult(backup.path, original, "restored", saved)


def _md5_or_none(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return md5_file(path)
    except OSError:
        return None
