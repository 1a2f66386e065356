"""Extra files: present in a tracked folder or a run folder, recorded nowhere.

A tracked folder's walk is remembered in the hash state with the inode and mtime of
every folder listed, and skipped while none of them changed (see ``_unknown``).
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut
from artifactctl.hashing import walk_relpaths
from artifactctl.hashing.state import RACY_NS, HashState
from artifactctl.layout import KEEP_MARKER
from artifactctl.project import Project
from artifactctl.scope import inside
from artifactctl.verify.plan import _read_manifest
from artifactctl.verify.report import FileCheck
from artifactctl.verify.runs import _manifest_files


def _extras(
    project: Project,
    outs: list[TrackedOut],
    runs: list,
    exact: bool = False,
    state: HashState | None = None,
) -> list[FileCheck]:
    """Files present in a tracked directory or a run folder that nothing records.

    Not ``exact``: a recorded name is taken for the file it was (see ``unknown_files``);
    the caller asks again with ``exact`` when one of them could not be read as a file.
    """
    found = []
    ignored = _dvcignore(project.root) if any(o.is_dir for o in outs) else None
    for out in outs:
        if not out.is_dir:
            continue
        manifest = _read_manifest(project.cache_dir, out.md5 or "")
        top = project.root / out.path
        if manifest is None or not top.is_dir():
            continue
        if exact:
            known = set(manifest[0])
            unknown = [rel for rel in walk_relpaths(top) if rel not in known]
        else:
            unknown = _unknown(str(top), out, manifest[0], state)
        for rel in unknown:
            repo_rel = f"{out.path}/{rel}"
            if not (ignored and ignored(repo_rel)):
                found.append(_extra(top / rel, repo_rel, "workspace", out.path, out.source))
    nested = {run_dir for run_dir, _, _ in runs}
    for run_dir, manifest, kind in runs:
        if manifest is None:
            continue
        top = project.root / run_dir
        recorded = project.root / manifest
        listed = _manifest_files(recorded)
        if listed is None:
            continue  # already reported unreadable; without a list nothing is "extra"
        known = set(listed)
        for rel in walk_relpaths(top):
            path = top / rel
            repo_rel = f"{run_dir}/{rel}"
            if rel in known or path == recorded or rel == KEEP_MARKER:
                continue
            # a saved run inside a test run answers to its own manifest
            if any(n != run_dir and inside(repo_rel, n) for n in nested):
                continue
            found.append(_extra(path, repo_rel, kind, run_dir, manifest))
    return found


def unknown_files(top: str, names: list[str]) -> tuple[list[str], list[tuple[str, int, int]]]:
    """What ``walk_relpaths(top)`` lists beyond ``names`` (POSIX paths relative to ``top``),
    taking each of ``names`` for the file it was without looking at it; and each folder
    listed, as (path relative to ``top``, inode, mtime_ns) read before listing it.

    One ``listdir`` per folder and set lookups, not an object and a type check per entry.
    """
    known = set(names)
    folders = {""}
    for folder in {name.rpartition("/")[0] for name in names}:
        while folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    found: list[str] = []
    listed: list[tuple[str, int, int]] = []
    try:
        st = os.lstat(top)
    except OSError:
        return found, listed
    stack = [("", st)]
    while stack:
        folder, st = stack.pop()
        try:
            entries = os.listdir(f"{top}/{folder}" if folder else top)
        except (FileNotFoundError, NotADirectoryError):
            continue
        listed.append((folder, st.st_ino, st.st_mtime_ns))
        prefix = folder + "/" if folder else ""
        for rel in [prefix + e for e in entries if prefix + e not in known]:
            path = f"{top}/{rel}"
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):  # a recorded folder, or a new one: all of it
                if rel in folders:
                    stack.append((rel, st))
                else:
                    found += [f"{rel}/{sub}" for sub in walk_relpaths(path)]
            elif stat.S_ISREG(st.st_mode) or (stat.S_ISLNK(st.st_mode) and os.path.isfile(path)):
                found.append(rel)
    return found, listed


def _unchanged(top: str, listed: list[tuple[str, int, int]]) -> bool:
    """Whether every folder is still the one listed then: same inode, same mtime (a
    folder's mtime moves whenever an entry is added, removed or renamed in it)."""
    lstat, isdir = os.lstat, stat.S_ISDIR
    for folder, ino, mtime in listed:
        try:
            st = lstat(f"{top}/{folder}" if folder else top)
        except OSError:
            return False
        if st.st_ino != ino or st.st_mtime_ns != mtime or not isdir(st.st_mode):
            return False
    return True


def _unknown(top: str, out: TrackedOut, names: list[str], state: HashState | None) -> list[str]:
    """``unknown_files``, or what it found last time when no folder changed since then.

    Remembered in the hash state (like git's untracked cache) for this manifest, and
    only when every folder was last changed before the racy window.
    """
    key = f"walk:{out.path}"
    memo = state.memo_get(key) if state is not None else None
    if (
        isinstance(memo, tuple)
        and len(memo) == 3
        and memo[0] == out.md5
        and _unchanged(top, memo[1])
    ):
        return list(memo[2])
    found, listed = unknown_files(top, names)
    racy = time.time_ns() - RACY_NS
    # with extras (maybe in new folders, which are not in ``listed``): walk again next time
    if state is not None and not found and all(mtime < racy for _, _, mtime in listed):
        state.memo_put(key, (out.md5, listed, found))
    return found


def _extra(path: Path, rel: str, kind: str, artifact: str, recorded_in: str) -> FileCheck:
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    return FileCheck(
        rel, "extra", kind, artifact, recorded_in, size=size, detail="not in the recorded manifest"
    )


def _dvcignore(root: Path) -> Callable[[str], bool] | None:
    """The root .dvcignore as a predicate on repository-relative paths (None: no rules)."""
    path = root / ".dvcignore"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return None
    import pathspec

    spec = pathspec.PathSpec.from_lines("gitwildmatch", lines)
    return spec.match_file
