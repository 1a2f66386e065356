"""Planning ``verify``: which files of the DVC outputs (and cache objects) to hash, and
what each should hash to, as column groups; the scopes given on the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from artifactctl.dvc.tracked import TrackedOut, cache_object, read_manifest_columns
from artifactctl.hashing import dir_md5, walk_relpaths
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState
from artifactctl.project import Project
from artifactctl.scope import inside, selected
from artifactctl.verify.report import FileCheck


class _Group:
    """Files checked alike (one tracked folder, one run, ...) as columns."""

    __slots__ = ("_keys", "_rels", "base", "expected", "meta", "paths", "sizes")

    def __init__(
        self,
        meta: tuple[str, str, str, str],  # kind, artifact, recorded_in, algorithm
        paths: list[str],  # to open: absolute, or relative to the root (or to base)
        rels: list[str] | None,  # repository-relative (None: base + "/" + path)
        expected: list[str],
        keys: list[str] | None = None,  # state keys (default: rels)
        sizes: list[int | None] | None = None,  # recorded sizes, when the record has them
        base: str | None = None,  # a folder below the root that paths are relative to
    ) -> None:
        self.meta, self.paths, self._rels, self.expected = meta, paths, rels, expected
        self._keys, self.sizes, self.base = keys, sizes, base

    @property
    def rels(self) -> list[str]:
        """Built on first use: hashing can start without them (see ``verify._verify``)."""
        if self._rels is None:
            prefix = f"{self.base}/"
            self._rels = [prefix + path for path in self.paths]
        return self._rels

    @property
    def keys(self) -> list[str]:
        return self.rels if self._keys is None else self._keys

    @property
    def root_paths(self) -> list[str]:
        """Paths to open relative to the root (or absolute)."""
        return self.paths if self.base is None else self.rels

    @property
    def artifact(self) -> str:
        return self.meta[1]

    def only(self, keep: list[int]) -> _Group:
        def pick(col: list) -> list:
            return [col[i] for i in keep]

        return _Group(
            self.meta,
            pick(self.root_paths),
            pick(self.rels),
            pick(self.expected),
            None if self._keys is None else pick(self._keys),
            None if self.sizes is None else pick(self.sizes),
        )


class _Expect:
    """A file to hash and what it should hash to."""

    def __init__(
        self,
        path: str,
        rel: str,
        kind: str,
        artifact: str,
        recorded_in: str,
        expected: str,
        algorithm: str = "md5",
        size: int | None = None,  # recorded size, when the record has one
    ) -> None:
        self.path, self.rel, self.kind, self.artifact = path, rel, kind, artifact
        self.recorded_in, self.expected = recorded_in, expected
        self.algorithm, self.size = algorithm, size


def _single(e: _Expect) -> _Group:
    return _Group(
        (e.kind, e.artifact, e.recorded_in, e.algorithm),
        [e.path],
        [e.rel],
        [e.expected],
        [f"cache:{e.expected}"] if e.kind == "cache" else None,
        [e.size],
    )


def _narrow(groups: list[_Group], scopes: list[str]) -> list[_Group]:
    """Whole artifacts inside a scope as they are; of the others, the files in a scope."""
    narrowed = []
    for g in groups:
        if any(inside(g.artifact, s) for s in scopes):
            narrowed.append(g)
            continue
        keep = [i for i, rel in enumerate(g.rels) if selected(rel, scopes)]
        if keep:
            narrowed.append(g.only(keep))
    return narrowed


def _merge(groups: list[_Group]) -> _Group:
    """One group's columns for all (the metas become a column)."""
    if len(groups) == 1:
        return groups[0]
    paths: list[str] = []
    rels: list[str] = []
    expected: list[str] = []
    keys: list[str] = []
    for g in groups:
        paths += g.root_paths
        rels += g.rels
        expected += g.expected
        keys += g.keys
    return _Group(("", "", "", ""), paths, rels, expected, keys)


# Each .dir manifest is read once per verify (planning, extras and --cache all need it).
_MANIFESTS: dict[tuple[str, str], tuple[list[str], list[str]] | None] = {}


def _read_manifest(cache_dir: Path, md5: str) -> tuple[list[str], list[str]] | None:
    key = (str(cache_dir), md5)
    if key not in _MANIFESTS:
        _MANIFESTS[key] = read_manifest_columns(cache_dir, md5, _MEMO[0] if _MEMO else None)
    return _MANIFESTS[key]


_MEMO: list[Path] = []  # where manifests are remembered (the project's state folder)


# --- DVC outputs -------------------------------------------------------------


def _plan_out(project: Project, out: TrackedOut) -> _Group | None:
    """Files of one output with their recorded md5; None when a directory's manifest is absent."""
    assert out.md5 is not None
    root = str(project.root)
    if not out.is_dir:
        return _Group(
            ("workspace", out.path, out.source, "md5"),
            [f"{root}/{out.path}"],
            [out.path],
            [out.md5],
            sizes=[out.size],
        )
    manifest = _read_manifest(project.cache_dir, out.md5)
    if manifest is None:
        return None
    names, md5s = manifest
    meta = ("workspace", out.path, f"{out.source} ({out.md5})", "md5")
    return _Group(meta, names, None, md5s, base=out.path)


def _check_without_manifest(
    project: Project,
    out: TrackedOut,
    state: HashState,
    deep: bool,
    jobs: int,
    advance: Callable[[int], None] | None,
) -> list[FileCheck]:
    """A directory whose .dir object is gone: compare its whole hash, the best we can do."""
    top = project.root / out.path
    base = FileCheck(out.path, "ok", "workspace", out.path, out.source, expected=out.md5)
    if not top.is_dir():
        base.state, base.detail = "missing", "directory missing"
        return [base]
    rels = sorted(walk_relpaths(top))
    hashed = hash_many(
        [(f"{top}/{rel}", f"{out.path}/{rel}") for rel in rels],
        state=state,
        deep=deep,
        jobs=jobs,
        on_bytes=advance,
    )
    bad = [h for h in hashed if h.digest is None]
    if bad:
        base.state, base.detail = "unreadable", f"{bad[0].key}: {bad[0].error}"
        return [base]
    base.actual = dir_md5((rel, h.digest) for rel, h in zip(rels, hashed, strict=True))  # type: ignore[misc]
    base.size = sum(h.size for h in hashed)
    base.skipped = all(h.from_state for h in hashed)
    if base.actual != out.md5:
        base.state = "corrupted"
        base.detail = "directory content differs; its manifest is not in the cache"
    return [base]


# --- cache objects -----------------------------------------------------------


def _plan_cache(project: Project, outs: list[TrackedOut]) -> list[_Group]:
    cache = project.cache_dir
    objects: dict[str, str] = {}  # oid -> the output it backs
    for out in outs:
        if not out.cache or not out.md5:
            continue
        objects.setdefault(out.md5, out.path)
        if out.is_dir:
            for md5 in (_read_manifest(cache, out.md5) or ((), ()))[1]:
                objects.setdefault(md5, out.path)
    groups = []
    for oid, artifact in sorted(objects.items()):
        path = cache_object(cache, oid)
        e = _Expect(
            str(path),
            _display(project.root, path),
            "cache",
            artifact,
            "object name",
            oid.removesuffix(".dir"),
        )
        groups.append(_single(e))
    return groups


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
