"""Folders the registry moves and copies: the md5 of every file, and their .gitignore.

The champion copies and the archived folders are git-ignored copies of DVC-tracked
files; both are described by ``{relpath: md5}`` so that the same objects can be
found again in the workspace or the DVC cache.
"""

from __future__ import annotations

from pathlib import Path

from artifactctl.fs.atomic import atomic_write_text
from artifactctl.hashing import md5_file, walk_files


def folder_hashes(folder: Path) -> dict[str, str]:
    """{relpath: md5} of every file under ``folder`` (empty if it does not exist)."""
    return {p.relative_to(folder).as_posix(): md5_file(p) for p in walk_files(folder)}


def matches(folder: Path, files: dict[str, str]) -> bool:
    """``folder`` holds exactly ``files`` ({relpath: md5}), byte for byte."""
    if not folder.is_dir():
        return False
    present = {p.relative_to(folder).as_posix(): p for p in walk_files(folder)}
    if set(present) != set(files):
        return False
    return all(md5_file(present[rel]) == md5 for rel, md5 in files.items())


def ensure_ignored(folder: Path, lines: str, name: str = ".gitignore") -> None:
    """Add to ``folder/.gitignore`` (or ``name``) each of ``lines`` it lacks, keeping the rest."""
    path = folder / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    missing = [line for line in lines.splitlines() if line not in text.splitlines()]
    if missing:
        sep = "" if not text or text.endswith("\n") else "\n"
        atomic_write_text(path, text + sep + "\n".join(missing) + "\n")
