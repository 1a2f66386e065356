"""What DVC recorded: every tracked output from dvc.lock and ``*.dvc`` files.

Read straight from the YAML files (no DVC import), so listing 20,000 tracked
files costs milliseconds. Directory outputs are expanded through their ``.dir``
manifest in the local cache.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from artifactctl.dvc.stages import declared_kinds
from artifactctl.dvc.yamlio import load_yaml
from artifactctl.errors import UsageError
from artifactctl.safepath import (
    UntrustedMetadata,
    all_md5,
    already_contained,
    checked_md5,
    contained,
)

SKIP_DIRS = frozenset({".git", ".dvc", ".venv", "venv", "node_modules", "__pycache__"})


@dataclass(frozen=True)
class TrackedOut:
    """One output as DVC recorded it (a file, or a directory with a ``.dir`` hash)."""

    path: str  # repository-relative, POSIX separators
    md5: str | None  # None: declared but never recorded
    size: int | None
    nfiles: int | None
    cache: bool
    source: str  # "dvc.lock" or the .dvc file's path
    stage: str | None
    declared_as: str = "out"  # out | metrics | plots

    @property
    def is_dir(self) -> bool:
        return bool(self.md5 and self.md5.endswith(".dir"))


def cache_object(cache_dir: Path, md5: str) -> Path:
    """Where DVC 3.x keeps the object for ``md5`` (``files/md5/xx/rest``)."""
    return cache_dir / "files" / "md5" / md5[:2] / md5[2:]


LIST_AT = 32  # wanted objects in one cache folder from which a listing beats a stat of each


def objects_absent(cache_dir: Path, oids: Iterable[str]) -> set[str]:
    """Which of ``oids`` (files and ``.dir`` objects alike) the cache lacks.

    Objects share 256 folders (``files/md5/xx/``): where many wanted objects share
    one, a single listing answers for all of them instead of a stat each (200,000
    stats were most of a warm ``status`` of 200,000 tracked files).
    """
    by_folder: dict[str, list[str]] = {}
    for oid in oids:
        by_folder.setdefault(oid[:2], []).append(oid)
    base = os.path.join(cache_dir, "files", "md5")
    absent: set[str] = set()
    for prefix, wanted in by_folder.items():
        folder = os.path.join(base, prefix)
        if len(wanted) < LIST_AT:
            absent.update(o for o in wanted if not os.path.exists(os.path.join(folder, o[2:])))
            continue
        try:
            names = set(os.listdir(folder))
        except OSError:  # no such folder: none of them is there
            names = set()
        absent.update(o for o in wanted if o[2:] not in names)
    return absent


def read_manifest(cache_dir: Path, dir_md5: str) -> list[tuple[str, str]] | None:
    """(relpath, md5) pairs of a directory output, or None if its ``.dir`` object is absent.

    Each relpath is checked like any path read from a file (relative, no '..')."""
    obj = cache_object(cache_dir, dir_md5)
    try:
        data = json.loads(obj.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    source = f"the .dir manifest {dir_md5}"
    if not isinstance(data, list):
        raise UntrustedMetadata(f"{source} is not a list of files")
    try:
        rels = [item["relpath"] for item in data]
        md5s = [item["md5"] for item in data]
    except (TypeError, KeyError):
        pass  # an entry that is not a mapping, or lacks a field: named below
    else:
        if already_contained(rels) and all_md5(md5s):
            return list(zip(rels, md5s, strict=True))  # the common case, checked in bulk
    pairs = []
    for item in data:
        if not isinstance(item, dict):
            raise UntrustedMetadata(f"{source} has an entry that is not a mapping")
        rel = contained(None, item.get("relpath"), what="relpath", source=source)
        pairs.append((rel, checked_md5(item.get("md5"), what=f"md5 of {rel}", source=source)))
    return pairs


def out_files(cache_dir: Path, out: TrackedOut) -> dict[str, str] | None:
    """Repository-relative file -> recorded md5 of one output: a file is itself, a folder
    its ``.dir`` manifest's entries. None: a folder whose manifest is not in the cache;
    {}: an output DVC declared but never recorded."""
    if out.md5 is None:
        return {}
    if not out.is_dir:
        return {out.path: out.md5}
    manifest = read_manifest(cache_dir, out.md5)
    if manifest is None:
        return None
    prefix = f"{out.path}/"
    return {prefix + rel: md5 for rel, md5 in manifest}


def _entry(item: object, base: PurePosixPath, source: str) -> tuple[str, dict[str, Any]]:
    """An output entry's repository-relative path, checked: inside the repository, and its
    recorded fields of the types DVC writes."""
    if not isinstance(item, dict):
        raise UntrustedMetadata(f"{source}: an output entry is not a mapping: {item!r:.80}")
    path = item.get("path")
    if not isinstance(path, str):
        raise UntrustedMetadata(f"{source}: output path must be a string, got {path!r:.80}")
    joined = path if base == PurePosixPath(".") else os.path.normpath(f"{base}/{path}")
    rel = contained(None, joined, what="output path", source=source)
    if item.get("md5") is not None:
        checked_md5(item["md5"], what=f"md5 of {rel}", source=source)
    for key, kind in (("size", int), ("nfiles", int)):
        value = item.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise UntrustedMetadata(f"{source}: {key} of {rel} must be {kind.__name__}")
    return rel, item


def lock_outs(root: Path) -> list[TrackedOut]:
    lock = load_yaml(root / "dvc.lock")
    if lock is None:
        return []
    if not isinstance(lock, dict) or not isinstance(lock.get("stages", {}), dict):
        raise UsageError("dvc.lock has an unexpected shape", hint="run `dvc repro` to rewrite it")
    declared = declared_kinds(root)
    outs = []
    for stage, body in (lock.get("stages") or {}).items():
        if not isinstance(body or {}, dict) or not isinstance((body or {}).get("outs") or [], list):
            raise UntrustedMetadata(f"dvc.lock: stage {stage} has an unexpected shape")
        for item in (body or {}).get("outs") or []:
            rel, item = _entry(item, PurePosixPath("."), "dvc.lock")
            kind, cache = declared.get(rel, ("out", True))
            outs.append(_out(rel, item, cache, "dvc.lock", str(stage), kind))
    return outs


def _out(
    rel: str, item: dict[str, Any], cache: bool, source: str, stage: str | None, kind: str
) -> TrackedOut:
    return TrackedOut(
        path=rel,
        md5=item.get("md5"),
        size=item.get("size"),
        nfiles=item.get("nfiles"),
        cache=cache,
        source=source,
        stage=stage,
        declared_as=kind,
    )


def dvcfile_outs(root: Path, skip: Iterable[str] = ()) -> list[TrackedOut]:
    """Outputs of ``*.dvc`` files anywhere in the repository."""
    skipped = {os.path.join(root, s) for s in skip}
    found = []
    stack = [os.fspath(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        # A folder next to its own NAME.dvc is that file's output: DVC forbids overlapping
        # outputs, so no .dvc file lives inside it and its (maybe 20,000) files need no scan.
        dvc_names = {e.name[:-4] for e in entries if e.name.endswith(".dvc")}
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if (
                    entry.name not in SKIP_DIRS
                    and entry.name not in dvc_names
                    and entry.path not in skipped
                ):
                    stack.append(entry.path)
            elif entry.name.endswith(".dvc") and entry.is_file():
                found.append(Path(entry.path))
    outs = []
    for dvcfile in sorted(found):
        rel_file = dvcfile.relative_to(root).as_posix()
        data = load_yaml(dvcfile, label=rel_file)
        if not isinstance(data, dict):
            raise UsageError(f"{rel_file} is not a DVC file")
        base = PurePosixPath(rel_file).parent
        if not isinstance(data.get("outs") or [], list):
            raise UntrustedMetadata(f"{rel_file}: outs must be a list")
        for item in data.get("outs") or []:
            rel, item = _entry(item, base, rel_file)
            outs.append(_out(rel, item, bool(item.get("cache", True)), rel_file, None, "out"))
    return outs


def tracked_outs(root: Path) -> list[TrackedOut]:
    """Every output DVC recorded in this repository, sorted by path."""
    from_lock = lock_outs(root)
    skip = [o.path for o in from_lock]
    outs = {o.path: o for o in dvcfile_outs(root, skip=skip)}
    outs.update({o.path: o for o in from_lock})
    return sorted(outs.values(), key=lambda o: o.path)
