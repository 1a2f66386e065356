"""``push``: upload what DVC recorded; local edits, preserved or not, are never committed here.

The objects are the selected outputs' (their files' md5s and ``.dir`` listings) and, with
no targets, the registry's (champions, archived folders). Local-folder and S3 remotes get
push's own engine (``sync/upload.py``, ``sync/upload_s3.py``): only the objects the remote
lacks are sent, each read from the cache and hashed on its way, so a corrupted cache object
is named and not pushed (exit 1). A folder's ``.dir`` listing is sent after its files, and
not at all if one of them could not be: a remote never holds a listing that names a file it
lacks. Other remotes go through DVC's push. The crash step ``push-sending``: the first
object is partly sent (on a local remote, written under its temporary name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from artifactctl.dvc.tracked import TrackedOut, objects_absent
from artifactctl.errors import RemoteError
from artifactctl.project import Project
from artifactctl.sync.checkout import StepOnce
from artifactctl.sync.fetch import Fetched
from artifactctl.sync.outputs import cached_outs, expand_outs, local_md5s
from artifactctl.sync.preserve import is_preserved
from artifactctl.sync.progress import Advance, ProgressFactory, disk_io, no_progress
from artifactctl.sync.registry_objects import RegistryTransfer, push_registry_objects
from artifactctl.sync.upload import Uploader, object_sizes, open_uploader

PUSH_SCHEMA = "artifactctl.push/1"


@dataclass
class PushFailure:
    path: str  # a recorded file (or folder, for its listing); the md5 for a registry object
    md5: str
    reason: str


@dataclass
class PushReport:
    remote: str
    pushed: int  # objects sent
    objects: int
    outputs: int
    held_back: list[str]  # preserved files whose local content differs from DVC's record
    missing_from_cache: list[str]
    registry: RegistryTransfer | None = None  # None: targets were named
    failed: list[PushFailure] = field(default_factory=list)  # not pushed: corrupted, unreadable

    @property
    def ok(self) -> bool:
        return not self.failed and not (self.registry and self.registry.failed)

    @property
    def objects_failed(self) -> int:
        return len({f.md5 for f in self.failed})

    def to_dict(self) -> dict:
        return {
            "schema": PUSH_SCHEMA,
            "remote": self.remote,
            "ok": self.ok,
            "pushed": self.pushed,
            "objects": self.objects,
            "already_on_remote": max(0, self.objects - self.pushed - self.objects_failed),
            "outputs": self.outputs,
            "preserved_not_pushed": self.held_back,
            "missing_from_cache": self.missing_from_cache,
            "failed": [asdict(f) for f in self.failed],
            "registry": self.registry.to_dict() if self.registry else None,
        }


def push(
    project: Project,
    targets: list[str] | None = None,
    *,
    remote: str | None = None,
    jobs: int = 0,
    progress: ProgressFactory | None = None,
) -> PushReport:
    """Upload the recorded objects of ``targets`` (everything when None) to ``remote``."""
    from artifactctl.dvc.config import get_remote

    progress = progress or no_progress
    chosen = get_remote(project.root, remote)
    name = chosen.name
    with project.lock():
        outs = cached_outs(project, targets)
        expanded = expand_outs(project, outs)
        files = {rel: md5 for _, f in expanded for rel, md5 in (f or {}).items()}
        objects = {o.md5 for o in outs if o.md5} | set(files.values())
        absent = objects_absent(project.cache_dir, set(files.values()))
        missing = sorted(rel for rel, md5 in files.items() if md5 in absent)
        missing += [o.path for o, f in expanded if f is None]
        held = _preserved_differing(project, files, project.settings.preserve)
        job = _PushJob(project, name, progress, expanded)
        try:
            with open_uploader(project.root, project.cache_dir, chosen, jobs) as uploader:
                if uploader is None:
                    pushed = job.with_dvc(outs, bool(targets), jobs)
                else:
                    pushed = job.send(uploader, set(files.values()) - absent)
                # A teammate's clone rebuilds champions and unarchives from these (issue 14).
                send = None if uploader is None else _sender(uploader)
                registry = None if targets else push_registry_objects(project, name, jobs, send)
        except OSError as exc:  # a local remote: full, read-only, not a folder
            where = f" ({exc.filename})" if exc.filename else ""
            raise RemoteError(
                f"pushing to remote '{name}' failed: {exc.strerror or exc}{where}",
                hint="check the remote folder's space and permissions, then push again",
            ) from exc
    report = PushReport(name, pushed, len(objects), len(outs), held, sorted(missing), registry)
    report.failed = job.failures()  # the registry's own are in registry.failed
    return report


@dataclass
class _PushJob:
    project: Project
    remote: str
    progress: ProgressFactory
    expanded: list[tuple[TrackedOut, dict[str, str] | None]]
    failed: dict[str, str] = field(default_factory=dict)  # md5 -> why
    held_dirs: dict[str, str] = field(default_factory=dict)  # .dir md5 -> its output's path

    def with_dvc(self, outs: list[TrackedOut], targeted: bool, jobs: int) -> int:
        from artifactctl.dvc import repo as dvcrepo

        targets = [o.path for o in outs] if targeted else None
        total = float(sum(o.size or 0 for o in outs)) or None
        with (
            self.progress(f"pushing to '{self.remote}'", total) as advance,
            disk_io("rchar", advance),
        ):
            return dvcrepo.push(self.project.root, targets, self.remote, jobs)

    def send(self, uploader: Uploader, file_md5s: set[str]) -> int:
        """Files first, then the listings of folders whose files all made it; the count sent."""
        cache = self.project.cache_dir
        listings = {
            out.md5: set(files.values())
            for out, files in self.expanded
            if out.is_dir and out.md5 and files is not None
        }
        first = uploader.absent(file_md5s)
        later = uploader.absent(listings)
        total = float(object_sizes(cache, [*first, *later])) or None
        with self.progress(f"pushing to '{self.remote}'", total) as advance:
            on_bytes = _on_bytes(advance)
            sent = uploader.send(first, on_bytes)
            self.failed.update(sent.failed)
            ready = [d for d in later if not listings[d] & sent.failed.keys()]
            more = uploader.send(ready, on_bytes) if ready else Fetched()
            self.failed.update(more.failed)
        paths = {out.md5: out.path for out, _ in self.expanded}
        self.held_dirs = {d: paths[d] for d in later if d not in ready}
        return len(sent.done) + len(more.done)

    def failures(self) -> list[PushFailure]:
        """Every object not pushed, named by the recorded paths that hold it."""
        if not self.failed and not self.held_dirs:
            return []
        by_md5: dict[str, list[str]] = {}
        for out, files in self.expanded:
            for rel, md5 in (files or {}).items():
                if md5 in self.failed:
                    by_md5.setdefault(md5, []).append(rel)
            if out.is_dir and out.md5 in self.failed:  # its listing
                by_md5.setdefault(out.md5, []).append(out.path)
        out = [
            PushFailure(rel, md5, self.failed[md5]) for md5, rels in by_md5.items() for rel in rels
        ]
        why = "its listing was not pushed: some of its files were not"
        out += [PushFailure(path, md5, why) for md5, path in self.held_dirs.items()]
        return sorted(out, key=lambda f: f.path)


def _on_bytes(advance: Advance) -> Advance:
    started = StepOnce("push-sending")

    def on_bytes(n: float) -> None:
        started()
        advance(n)

    return on_bytes


def _sender(uploader: Uploader) -> Callable[[list[str]], tuple[list[str], dict[str, str]]]:
    def send(md5s: list[str]) -> tuple[list[str], dict[str, str]]:
        sent = uploader.send(uploader.absent(md5s))
        return sent.done, sent.failed

    return send


def _preserved_differing(project: Project, files: dict[str, str], rules: list[str]) -> list[str]:
    local = local_md5s(project, (rel for rel in files if is_preserved(rel, rules)))
    return sorted(rel for rel, md5 in local.items() if md5 != files[rel])
