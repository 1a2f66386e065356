"""``clean --cache``: remove local DVC cache objects that nothing needs any more.

An object is in use (kept) when any of these names it:

* the workspace: ``dvc.lock`` and every ``*.dvc`` file as they are on disk now;
* the tip commit of every git ref (branches, tags, remote-tracking branches,
  DVC experiment refs, stash) plus HEAD: every ``dvc.lock`` and ``*.dvc`` file in
  that commit's tree, read with ``git cat-file`` (DVC's ``gc -w -a -T`` scope,
  widened to all refs; history behind a tip is not kept, as with DVC);
* for every directory hash above, its ``.dir`` manifest in the cache and each
  file it lists;
* the bytes of every file under a preserve rule, ``artifacts/models/production/``
  (champions, whatever form the registry gives them) and ``artifacts/archive/``:
  their md5 is kept even if no DVC file names it any more;
* every object the registry names, whether or not a copy is in the workspace (a
  fresh clone has no champion copies: they are git-ignored and rebuilt from these):
  the ledger's champions still on the stack, each ``archived.json`` record
  (``registry.references.referenced_objects``) and ``champion.json``'s files.

Only ``<cache>/files/md5/xx/...`` objects are considered; DVC's run cache and
temporary files are left alone. Objects are deleted here, one ``unlink`` each,
under artifactctl's lock and DVC's own repository lock: ``dvc gc`` cannot be told
to keep the extra hashes above, and it is never given ``--cloud``: a remote is
never touched. A shared cache (``cache.dir`` outside this repository) is refused,
since other repositories' objects live there too.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artifactctl.dvc.tracked import read_manifest, tracked_outs
from artifactctl.errors import EnvironmentProblem, UsageError
from artifactctl.hashing.many import hash_many
from artifactctl.hashing.state import HashState, state_file
from artifactctl.layout import ARCHIVE, PRODUCTION
from artifactctl.project import Project

SCHEMA = "artifactctl.clean_cache/1"
_OBJECT = re.compile(r"[0-9a-f]{30}(\.dir)?")
_MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")


@dataclass
class CacheObject:
    md5: str
    size: int
    path: str  # relative to the cache folder


@dataclass
class CacheReport:
    cache_dir: str
    refs: int
    commits: list[str]
    objects: int  # objects in the cache
    used: int  # in the cache and named by the workspace or a commit
    protected: int  # kept only because a preserved/production/archive file or the registry has it
    unused: list[CacheObject]
    applied: bool = False
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def bytes_unused(self) -> int:
        return sum(o.size for o in self.unused)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "cache_dir": self.cache_dir,
            "dry_run": not self.applied,
            "scope": {"workspace": True, "refs": self.refs, "commits": self.commits},
            "summary": {
                "objects": self.objects,
                "used": self.used,
                "protected": self.protected,
                "removed" if self.applied else "unused": len(self.unused),
                "bytes_reclaimed" if self.applied else "bytes_reclaimable": self.bytes_unused,
            },
            "unused": [asdict(o) for o in self.unused],
            "warnings": self.warnings,
            "failures": self.failures,
        }


def collect_cache(project: Project, force: bool = False) -> CacheReport:
    """The dry run (default) or the collection (``force``) of unused cache objects."""
    _refuse_shared(project, project.cache_dir)
    if not force:
        return plan_cache(project)
    with project.lock(), _dvc_lock(project):
        report = plan_cache(project)
        _delete_unused(project.cache_dir, report)
    return report


def _delete_unused(cache: Path, report: CacheReport) -> None:
    """Delete the report's unused objects; it then lists those removed, and the failures."""
    removed = []
    for obj in report.unused:
        try:
            os.unlink(cache / obj.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            report.failures.append(f"{obj.path}: {exc.strerror or exc}")
            continue
        removed.append(obj)
    report.unused = removed
    report.applied = True


def plan_cache(project: Project) -> CacheReport:
    cache = project.cache_dir
    warnings: list[str] = []
    commits, nrefs = _ref_commits(project.root)
    named = {o.md5 for o in tracked_outs(project.root) if o.md5}
    named |= _md5s_in_commits(project.root, commits)
    used = _expand_dirs(cache, named, warnings)
    present = list_objects(cache)
    protected_md5s = (_protected_md5s(project) | _registry_md5s(project)) - used
    unused = [o for md5, o in sorted(present.items()) if md5 not in used | protected_md5s]
    return CacheReport(
        cache_dir=_display(project, cache),
        refs=nrefs,
        commits=commits,
        objects=len(present),
        used=len(used & present.keys()),
        protected=len(protected_md5s & present.keys()),
        unused=unused,
        warnings=warnings,
    )


def _display(project: Project, path: Path) -> str:
    try:
        return project.rel(path)
    except ValueError:
        return str(path)


def _refuse_shared(project: Project, cache: Path) -> None:
    try:
        Path(os.path.abspath(cache)).relative_to(project.root)
    except ValueError:
        raise UsageError(
            f"the DVC cache {cache} is outside this repository (a shared cache)",
            hint="other repositories may need its objects; use `dvc gc --projects ...` instead",
        ) from None


def list_objects(cache: Path) -> dict[str, CacheObject]:
    """md5 -> object for every ``files/md5/xx/rest`` in the cache."""
    base = cache / "files" / "md5"
    found: dict[str, CacheObject] = {}
    try:
        prefixes = [e for e in os.scandir(base) if len(e.name) == 2 and e.is_dir()]
    except FileNotFoundError:
        return found
    for prefix in prefixes:
        with os.scandir(prefix.path) as it:
            for entry in it:
                if not _OBJECT.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                md5 = prefix.name + entry.name
                size = entry.stat(follow_symlinks=False).st_size
                found[md5] = CacheObject(md5, size, f"files/md5/{prefix.name}/{entry.name}")
    return found


def _expand_dirs(cache: Path, named: set[str], warnings: list[str]) -> set[str]:
    used = set(named)
    for md5 in sorted(m for m in named if m.endswith(".dir")):
        manifest = read_manifest(cache, md5)
        if manifest is None:
            warnings.append(
                f"directory manifest {md5} is not in the local cache: the files it lists "
                "cannot be told apart from unused ones"
            )
            continue
        used.update(m for _, m in manifest)
    return used


# --- git refs ---------------------------------------------------------------


def _git(root: Path, *args: str, data: bytes | None = None, check: bool = True) -> bytes:
    """Standard output of ``git ARGS``; EnvironmentProblem if it fails (and ``check``)."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, input=data, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise EnvironmentProblem("git is not installed", hint="install git") from None
    if proc.returncode != 0 and check:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise EnvironmentProblem(f"git {args[0]} failed: {message[0] if message else ''}")
    return proc.stdout if proc.returncode == 0 else b""


def _ref_commits(root: Path) -> tuple[list[str], int]:
    """Distinct commits at the tip of every ref (peeled) and HEAD; and the number of refs."""
    lines = _git(root, "for-each-ref", "--format=%(objectname) %(*objectname) %(objecttype)")
    commits: set[str] = set()
    nrefs = 0
    for line in lines.decode().splitlines():
        parts = line.split()
        if not parts:
            continue
        nrefs += 1
        oid = parts[1] if len(parts) == 3 else parts[0]  # annotated tag: the peeled object
        if parts[-1] in ("commit", "tag"):
            commits.add(oid)
    # before the first commit there is no HEAD (rev-parse fails, quietly)
    if head := _git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).decode().strip():
        commits.add(head)
    return sorted(commits), nrefs


def _md5s_in_commits(root: Path, commits: Iterable[str]) -> set[str]:
    """Every md5 named by a dvc.lock or .dvc file in the trees of these commits."""
    blobs = sorted({oid for commit in commits for oid in _dvc_file_blobs(root, commit)})
    if not blobs:
        return set()
    md5s: set[str] = set()
    for text in _cat_blobs(root, blobs):
        md5s |= _md5s_in_yaml(text)
    return md5s


def _dvc_file_blobs(root: Path, commit: str) -> set[str]:
    """The blob ids of every dvc.lock and ``*.dvc`` file in the tree of ``commit``."""
    blobs = set()
    listing = _git(root, "ls-tree", "-r", "-z", "--full-tree", commit)
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        _mode, kind, oid = meta.split()
        name = path.rsplit(b"/", 1)[-1]
        if kind == b"blob" and (name == b"dvc.lock" or name.endswith(b".dvc")):
            blobs.add(oid.decode())
    return blobs


def _cat_blobs(root: Path, oids: list[str]) -> list[bytes]:
    raw = _git(root, "cat-file", "--batch", data=("\n".join(oids) + "\n").encode())
    out = []
    pos = 0
    for _ in oids:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        size = int(header[2])
        out.append(raw[end + 1 : end + 1 + size])
        pos = end + 1 + size + 1
    return out


def _md5s_in_yaml(text: bytes) -> set[str]:
    """Every md5 value anywhere in a dvc.lock or .dvc file (outs, deps, any schema)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return set()
    found: set[str] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "md5" and isinstance(value, str) and _MD5.fullmatch(value):
                    found.add(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


# --- files whose bytes must stay recoverable ----------------------------------


def protected_files(project: Project) -> list[Path]:
    """Files under preserve rules, production (champions) and the archive; links followed."""
    roots = [project.artifacts / PRODUCTION, project.artifacts / ARCHIVE]
    for pattern in project.settings.preserve:
        roots.extend(sorted(project.root.glob(pattern)))
    files: list[Path] = []
    seen: set[str] = set()
    for top in roots:
        _walk_following(top, files, seen)
    return files


def _walk_following(top: Path, files: list[Path], seen: set[str]) -> None:
    real = os.path.realpath(top)
    if real in seen:
        return
    seen.add(real)
    if os.path.isfile(top):
        files.append(top)
        return
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        _walk_following(Path(entry.path), files, seen)


def _protected_md5s(project: Project) -> set[str]:
    files = protected_files(project)
    state = HashState(state_file(project))
    hashed = hash_many([(path, _display(project, path)) for path in files], state=state)
    state.save()
    return {h.md5 for h in hashed if h.md5}


def _registry_md5s(project: Project) -> set[str]:
    """Objects the ledger, the archive records and champion.json name, with the files
    their ``.dir`` listings name (a broken ledger or record is refused, one line)."""
    from artifactctl.registry.references import referenced_objects

    named = set(referenced_objects(project)) | _pointer_md5s(project)
    named = {m for m in named if _MD5.fullmatch(m)}
    for md5 in sorted(m for m in named if m.endswith(".dir")):
        named.update(m for _, m in read_manifest(project.cache_dir, md5) or [])
    return named


def _pointer_md5s(project: Project) -> set[str]:
    from artifactctl.fs.atomic import read_json

    try:
        pointer = read_json(project.artifacts / PRODUCTION / "champion.json")
    except (OSError, ValueError):
        return set()  # absent or unreadable: the ledger names the same objects
    found: set[str] = set()
    for slot in ("current", "previous"):
        champ = pointer.get(slot) if isinstance(pointer, dict) else None
        files = champ.get("files") if isinstance(champ, dict) else None
        if isinstance(files, dict):
            found.update(m for m in files.values() if isinstance(m, str))
    return found


# --- DVC's own lock -----------------------------------------------------------


@contextlib.contextmanager
def _dvc_lock(project: Project) -> Iterator[None]:
    """Hold DVC's repository lock, so no `dvc` command adds objects while we delete."""
    from artifactctl.dvc.repo import dvc_errors, open_repo

    repo = open_repo(project.root)
    try:
        with dvc_errors("taking DVC's repository lock"):
            repo.lock.lock()
        try:
            yield
        finally:
            repo.lock.unlock()
    finally:
        repo.close()
