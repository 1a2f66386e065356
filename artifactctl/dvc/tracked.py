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

from artifactctl.dvc.stages import declared_kinds
from artifactctl.dvc.yamlio import load_yaml, parse_cache
from artifactctl.errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

# Parsed dvc.lock, dvc.yaml, params.yaml and .dvc files (see yamlio.parse_cache); inside
# .dvc/tmp, which DVC git-ignores, next to artifactctl's other state.
PARSE_CACHE = ".dvc/tmp/artifactctl/parsed.marshal"
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


def read_manifest(cache_dir: Path, dir_md5: str) -> list[tuple[str, str]] | None:
    """(relpath, md5) pairs of a directory output, or None if its ``.dir`` object is absent."""
    columns = read_manifest_columns(cache_dir, dir_md5)
    return None if columns is None else list(zip(*columns, strict=True))


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
    return {f"{out.path}/{rel}": md5 for rel, md5 in manifest}


def read_manifest_columns(
    cache_dir: Path, dir_md5: str, memo: Path | None = None
) -> tuple[list[str], list[str]] | None:
    """(relpaths, md5s) of a directory output, or None if its ``.dir`` object is absent.

    ``memo``: a folder where the columns are kept as marshal (a third of the time of
    parsing the JSON of 20,000 entries), valid while the object's size, mtime and
    inode stay the same.
    """
    path = cache_object(cache_dir, dir_md5)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            sig = [st.st_size, st.st_mtime_ns, st.st_ino]
            if memo is not None:
                got = _recall(memo / f"{dir_md5}.marshal", sig)
                if got is not None:
                    return got
            data = json.loads(fh.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    columns = [item["relpath"] for item in data], [item["md5"] for item in data]
    if memo is not None:
        _remember(memo, f"{dir_md5}.marshal", sig, columns)
    return columns


MEMO_KEEP = 8  # manifests remembered at most (the least recently written go first)


# memo file -> (size, mtime_ns, inode) of what was read from it (see early.confirm)
RECALLED: dict[str, tuple[int, int, int]] = {}


def _recall(path: Path, sig: list[int]) -> tuple[list[str], list[str]] | None:
    import marshal

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            got = marshal.loads(fh.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (
        isinstance(got, tuple)
        and len(got) == 3
        and got[0] == sig
        and isinstance(got[1], list)
        and isinstance(got[2], list)
        and len(got[1]) == len(got[2])
    ):
        RECALLED[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino)
        return got[1], got[2]
    return None


def _remember(memo: Path, name: str, sig: list[int], columns: tuple[list, list]) -> None:
    import marshal

    from artifactctl.fs.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(memo / name, marshal.dumps((sig, *columns)))
        kept = sorted(memo.glob("*.marshal"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-MEMO_KEEP]:
            old.unlink()
    except OSError:
        pass  # only a cache


def _entry(item: dict[str, Any], base: PurePosixPath) -> tuple[str, dict[str, Any]]:
    path = str(item.get("path", ""))
    rel = PurePosixPath(os.path.normpath(base / path)).as_posix()
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
        for item in (body or {}).get("outs") or []:
            rel, item = _entry(item, PurePosixPath("."))
            outs.append(
                TrackedOut(
                    path=rel,
                    md5=item.get("md5"),
                    size=item.get("size"),
                    nfiles=item.get("nfiles"),
                    cache=_is_cached(stage, rel, declared),
                    source="dvc.lock",
                    stage=str(stage),
                    declared_as=declared.get(rel, ("out", True))[0],
                )
            )
    return outs


def _is_cached(stage: str, rel: str, declared: dict[str, tuple[str, bool]]) -> bool:
    return declared.get(rel, ("out", True))[1]


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
        for item in data.get("outs") or []:
            rel, item = _entry(item, base)
            outs.append(
                TrackedOut(
                    path=rel,
                    md5=item.get("md5"),
                    size=item.get("size"),
                    nfiles=item.get("nfiles"),
                    cache=bool(item.get("cache", True)),
                    source=rel_file,
                    stage=None,
                )
            )
    return outs


def tracked_outs(root: Path) -> list[TrackedOut]:
    """Every output DVC recorded in this repository, sorted by path."""
    with parse_cache(root / PARSE_CACHE):
        from_lock = lock_outs(root)
        skip = [o.path for o in from_lock]
        outs = {o.path: o for o in dvcfile_outs(root, skip=skip)}
    outs.update({o.path: o for o in from_lock})
    return sorted(outs.values(), key=lambda o: o.path)
