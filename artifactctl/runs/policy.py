"""The overwrite policy, and the log of forced production replacements.

| mode       | absent | exists, no registered experiment | exists, registered experiment |
| ---------- | ------ | -------------------------------- | ----------------------------- |
| test       | write  | overwrite                        | overwrite (a test copy)       |
| production | write  | overwrite                        | refuse; --force: replace, log |

An artifact belongs to a registered experiment when it lies in one of the experiment's
folders as its registry's templates name them (reference layout: ``models/<phase>/<ID>/``
and ``experiments/<ID>/`` of the artifacts root), for an ``ID`` declared in params.yaml.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from artifactctl import layout
from artifactctl.config import Mode
from artifactctl.errors import CheckFailed
from artifactctl.fs.atomic import fsync_dir
from artifactctl.project import Project

WRITE = "write"  # absent: written
OVERWRITE = "overwrite"  # test copy, or not an experiment's artifact
REFUSE = "refuse"  # a registered experiment's artifact, no --force
REPLACE = "replace"  # a registered experiment's artifact, --force: recorded


class OverwriteRefused(CheckFailed):
    """Production would replace a registered experiment's artifact without --force (exit 1)."""

    default_hint = "re-run with --force to replace them (the replacement is recorded)"


@dataclass(frozen=True)
class Decision:
    path: str  # repository-relative, POSIX
    exists: bool
    experiment: str | None
    action: str

    @property
    def allowed(self) -> bool:
        return self.action != REFUSE


def owner(project: Project, path: Path, experiments: Iterable[str] | None = None) -> str | None:
    """The registered experiment ``path`` (a production path) belongs to, if any."""
    from artifactctl.registry.experiments import owned_folders

    target = Path(os.path.abspath(path))
    wanted = None if experiments is None else set(experiments)
    for exp_id, folders in owned_folders(project).items():
        if wanted is not None and exp_id not in wanted:
            continue
        if any(target == f or f in target.parents for f in folders):
            return exp_id
    return None


def decide(
    project: Project,
    path: Path,
    mode: Mode | str,
    force: bool,
    experiments: Iterable[str] | None = None,
) -> Decision:
    """What the policy says about writing ``path`` (already routed) in ``mode``."""
    mode = layout.validate_mode(mode)
    exists = os.path.lexists(path)
    rel = project.rel(path)
    if mode == Mode.TEST:
        return Decision(rel, exists, None, OVERWRITE if exists else WRITE)
    exp = owner(project, path, experiments)
    if not exists:
        return Decision(rel, False, exp, WRITE)
    if exp is None:
        return Decision(rel, True, None, OVERWRITE)
    return Decision(rel, True, exp, REPLACE if force else REFUSE)


# --- the log of forced replacements ---


@dataclass(frozen=True)
class OverwriteRecord:
    when: str
    who: str
    command: str
    stage: str | None
    experiment: str | None
    path: str
    md5_before: str | None  # DVC's hash (file md5 or directory .dir hash)
    md5_after: str | None  # None: the stage removed it and did not write it again
    sha256_before: str | None
    sha256_after: str | None
    note: str | None = None  # "interrupted": recorded by recovery after a crash

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def log_path(project: Project) -> Path:
    return project.artifacts / layout.OVERWRITE_LOG


def who() -> str:
    """``user@host`` plus git's user.email when it is set."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    ident = f"{user}@{socket.gethostname()}"
    try:
        email = subprocess.run(
            ["git", "config", "--get", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    return f"{ident} <{email}>" if email else ident


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def command_line() -> str:
    """This process's command line (library callers; the CLI passes its own)."""
    import shlex

    return shlex.join([os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]])


def append_records(project: Project, records: Iterable[OverwriteRecord]) -> None:
    """Append to the log durably (O_APPEND, one write a line, fsync)."""
    lines = "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records)
    if not lines:
        return
    path = log_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, lines.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def read_records(project: Project) -> list[dict]:
    path = log_path(project)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash: skip it
    return out


def content_hashes(path: Path) -> tuple[str | None, str | None]:
    """(DVC md5, sha256) of a file, or of a directory's sorted manifest; (None, None) if absent."""
    import hashlib

    from artifactctl.hashing import dir_md5, md5_file, sha256_file, walk_files

    if path.is_file():
        return md5_file(path), sha256_file(path)
    if path.is_dir():
        files = sorted(walk_files(path))
        md5s = [(f.relative_to(path).as_posix(), md5_file(f)) for f in files]
        sha = hashlib.sha256()
        for f in files:
            sha.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
        return dir_md5(md5s), sha.hexdigest()
    return None, None
