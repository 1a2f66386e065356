"""``pull`` and ``push`` with preserve-local rules and a crash journal.

pull, in order:

1. Journal: every preserved file that exists locally inside a DVC-cached output
   is copied into ``.dvc/tmp/artifactctl/journal/pull-*/files/`` and its MD5
   recorded, before anything else happens.
2. Fetch: the objects come into the cache only (never into the workspace, so a
   partial download cannot replace a workspace file): from a local-folder or S3
   remote by artifactctl/sync/fetch.py and fetch_s3.py (in parallel, each object
   hashed on its way in and renamed into place only if its md5 matches), from
   other remotes by DVC's fetch.
3. Plan, file by file: missing -> pulled; same content -> unchanged; preserved
   and different -> kept (or, with ``--prefer-remote``, backed up to
   ``.artifactctl/backups/<stamp>/PATH``, outside the tracked folders, and
   replaced); other local edits -> left alone and listed (``--force``: backed up,
   then replaced). Nothing is discarded without a backup.
4. Write, file by file (artifactctl/sync/checkout.py), as DVC's ``cache.type``
   says: a copy is made under a temporary name, hashed on the way, and renamed
   over the workspace path only if the bytes written have the recorded MD5 (files
   fetched by this pull got that copy in the fetch's pass); a link
   (reflink, hardlink, symlink) is made to a verified cache object and renamed
   in the same way. So a corrupted cache object never reaches the workspace,
   and DVC's checkout never deletes a preserved or extra file.
5. Restore any preserved file whose bytes changed from its journal copy, finish
   the journal.

If the process dies anywhere, the next artifactctl command runs
``recover_pull`` (artifactctl/sync/pull_journal.py): it restores every preserved
file from the journal copy unless it is already byte-identical, and says so.

The named crash steps, in order: ``pull-copying`` (journal begun, preserved files
not copied yet), ``pull-journal`` (copies durable), ``pull-fetched`` (fetched
into the cache), ``pull-backups`` (planned, backups made; the workspace is written
next), ``pull-writing`` (the first temporary copy is partly written: during the
fetch when a big file's copy is made in its pass, else in the checkout) and
``pull-written`` (the workspace is written; the preserved files are checked next).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from artifactctl import scope
from artifactctl.backups import make_backups
from artifactctl.dvc.tracked import TrackedOut, cache_object, objects_absent
from artifactctl.errors import EnvironmentProblem, RemoteError, UsageError
from artifactctl.hashing import walk_files
from artifactctl.journal import step
from artifactctl.project import Project
from artifactctl.scope import repo_path
from artifactctl.sync.checkout import StepOnce, working_links, write_from_cache
from artifactctl.sync.fetch import Fetched, object_size
from artifactctl.sync.outputs import cached_outs, expand_outs, local_md5s
from artifactctl.sync.preserve import is_preserved
from artifactctl.sync.progress import ProgressFactory, disk_io, no_progress
from artifactctl.sync.pull_journal import begin_journal, restore_preserved
from artifactctl.sync.registry_objects import RegistryTransfer, fetch_registry_objects

PULL_SCHEMA = "artifactctl.pull/1"
PULL_STATES = ("pulled", "unchanged", "preserved", "backed_up", "modified", "extra", "failed")


@dataclass
class FileResult:
    path: str
    state: str  # one of PULL_STATES
    backup: str | None = None
    detail: str = ""


@dataclass
class PullReport:
    remote: str
    fetched: int
    files: list[FileResult]
    verified: bool
    restored: list[str] = field(default_factory=list)
    registry: RegistryTransfer | None = None  # None: targets were named

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(PULL_STATES, 0)
        for f in self.files:
            counts[f.state] += 1
        return counts

    @property
    def ok(self) -> bool:
        return not any(f.state == "failed" for f in self.files)

    def to_dict(self) -> dict:
        return {
            "schema": PULL_SCHEMA,
            "remote": self.remote,
            "ok": self.ok,
            "fetched": self.fetched,
            "verified": self.verified,
            "summary": self.counts,
            "backups": {f.path: f.backup for f in self.files if f.backup},
            "restored_from_journal": self.restored,
            "registry": self.registry.to_dict() if self.registry else None,
            "files": [asdict(f) for f in self.files],
        }


def pull(
    project: Project,
    targets: list[str] | None = None,
    *,
    remote: str | None = None,
    prefer_remote: Iterable[str] = (),
    force: bool = False,
    jobs: int = 0,
    verify: bool = True,
    progress: ProgressFactory | None = None,
) -> PullReport:
    from artifactctl.dvc.config import get_remote

    progress = progress or no_progress
    chosen = get_remote(project.root, remote)
    remote_name = chosen.name
    rules = project.settings.preserve
    with project.lock():
        outs = cached_outs(project, targets)
        wanted = [repo_path(project, t) for t in targets or ()]
        prefer = {repo_path(project, p) for p in prefer_remote}
        journal = begin_journal(project, outs, rules, prefer)
        job = _PullJob(project, outs, wanted, remote_name, prefer, force, jobs, verify)
        job.remote_is_s3 = chosen.is_s3
        if chosen.is_local:
            job.remote_path = chosen.local_path(project.root)
            if not job.remote_path.is_dir():
                job.missing_folder = job.remote_path
        try:
            report = job.run(progress, journal.path / "scratch")
        except BaseException:
            restore_preserved(project, journal)
            journal.finish()
            raise
        report.restored = restore_preserved(project, journal)
        journal.finish()
        if not targets:
            # Champions (even of since retrained experiments) and archived folders.
            report.registry = fetch_registry_objects(project, remote_name, jobs)
        return report


@dataclass
class _PullJob:
    """One pull's inputs, resolved: outputs, targets, remote and the user's choices."""

    project: Project
    outs: list[TrackedOut]
    wanted: list[str]
    remote_name: str
    prefer: set[str]
    force: bool
    jobs: int
    verify: bool
    missing_folder: Path | None = None  # a local remote whose folder does not exist
    remote_is_s3: bool = False
    remote_path: Path | None = None  # a local remote's folder
    unfetched: dict[str, str] = field(default_factory=dict)  # md5 -> why the fetch failed
    verified: set[str] = field(default_factory=set)  # objects this pull hashed on the way in
    staged: set[str] = field(default_factory=set)  # objects with a verified copy in scratch
    expanded: list = field(default_factory=list)  # the fetch's expand_outs, reused by plan

    def not_fetched(self, what: str) -> RemoteError:
        """The error for objects the fetch did not bring: the remote's absence says most."""
        if self.missing_folder is not None:
            return RemoteError(
                f"remote '{self.remote_name}' is a folder that does not exist: "
                f"{self.missing_folder} ({what} could not be fetched)",
                hint="push from the repository that produced the artifacts, or point the "
                "remote at the right folder (`artifactctl remote add NAME PATH --default`)",
            )
        return RemoteError(
            f"fetching from remote '{self.remote_name}' failed: {what}",
            hint="push it from the repository that produced it (`artifactctl push`)",
        )

    def run(self, progress: ProgressFactory, scratch: Path) -> PullReport:
        # Only verified bytes are recorded: with --no-verify, DVC's status re-hashes
        # them itself rather than calling a corrupted object's bytes up to date.
        state = _StateWriter(self.project) if self.verify else None
        try:
            return self._run(progress, scratch, state)
        finally:
            if state is not None:
                state.close()

    def _run(
        self, progress: ProgressFactory, scratch: Path, state: _StateWriter | None
    ) -> PullReport:
        from artifactctl.dvc.config import cache_types

        project, remote_name, verify = self.project, self.remote_name, self.verify
        links = working_links(cache_types(project.root), project.cache_dir, scratch)
        started = StepOnce()
        # By copy, big objects get their workspace copy in the fetch's pass over their bytes.
        stage = scratch if links[0] == "copy" else None
        expected_bytes = _bytes_to_fetch(project, self.outs)
        with progress(f"fetching from '{remote_name}'", expected_bytes) as advance:
            fetched = self.fetch(advance, stage, started)
        step("pull-fetched")
        if state is not None:
            state.open()  # on its thread, while the pull plans and writes
        selected, results = self.plan()
        to_write = [r for r in results.values() if r.state in ("pulled", "backed_up")]
        _make_backups(project, [r for r in to_write if r.state == "backed_up"], selected)
        step("pull-backups")
        items = [(r.path, selected[r.path]) for r in to_write]
        sizes = _sizes(project, items, self.staged)
        total = sum(sizes)
        what = "checking out" + (" and verifying" if verify else "")
        with progress(what, total) as advance:
            try:
                written = write_from_cache(
                    project.root,
                    project.cache_dir,
                    items,
                    sizes,
                    scratch,
                    verify=verify,
                    jobs=self.jobs,
                    on_bytes=advance,
                    links=links,
                    verified=self.verified,
                    staged=self.staged,
                    started=started,
                )
            except OSError as exc:
                raise _write_failed(exc) from exc
        for w in written:
            if w.error is not None:
                results[w.rel].state = "failed"
                results[w.rel].detail = w.error
        del items, sizes  # 50,000 files: what DVC's state is told next needs the room
        if state is not None:
            state.record([(w.rel, selected[w.rel]) for w in written if w.error is None])
        step("pull-written")
        files = sorted(results.values(), key=lambda r: r.path)
        return PullReport(remote_name, fetched, files, verified=verify)

    def fetch(self, advance: Callable[[float], None], stage: Path | None, started: StepOnce) -> int:
        """Bring the selected outputs' objects into the cache; the count fetched."""
        from artifactctl.dvc import repo as dvcrepo
        from artifactctl.sync.fetch import fetch_local

        project, cache = self.project, self.project.cache_dir

        def fetcher(md5s: set[str], files: bool) -> Fetched:
            on_bytes = advance if files else None
            if self.remote_path is not None:
                return fetch_local(
                    self.remote_path,
                    cache,
                    md5s,
                    jobs=self.jobs,
                    on_bytes=on_bytes,
                    stage=stage if files else None,
                    on_staging=started,
                )
            from artifactctl.sync.fetch_s3 import fetch_s3

            return fetch_s3(
                project.root,
                self.remote_name,
                cache,
                md5s,
                on_bytes=on_bytes,
                stage=stage if files else None,
                on_staging=started,
            )

        if self.remote_path is None and not self.remote_is_s3:  # DVC's fetch
            fetch_targets = [o.path for o in self.outs] if self.wanted else None
            with disk_io("wchar", advance):
                return dvcrepo.fetch(project.root, fetch_targets, self.remote_name, self.jobs)
        try:
            # .dir listings first: they name the files to fetch next
            got = fetcher({o.md5 for o in self.outs if o.is_dir and o.md5}, False)
            wanted = {o.md5 for o in self.outs if o.md5 and not o.is_dir}
            self.expanded = expand_outs(project, self.outs)
            for _, files in self.expanded:
                wanted.update((files or {}).values())
            more = fetcher(wanted, True)
        except OSError as exc:
            raise _write_failed(exc, "the DVC cache") from exc
        self.unfetched = {**got.failed, **more.failed}
        self.verified = set(got.done) | set(more.done)
        self.staged = more.staged
        return len(self.verified)

    def plan(self) -> tuple[dict[str, str], dict[str, FileResult]]:
        """Recorded file -> md5 for the selection, and what the pull does with each file."""
        project, wanted, prefer = self.project, self.wanted, self.prefer
        rules = project.settings.preserve
        expanded = self.expanded or expand_outs(project, self.outs)
        self.expanded = []
        for out, files in expanded:
            if files is None:
                listing = f"{out.path}: its directory listing {out.md5}"
                raise self.not_fetched(self._why(listing, out.md5 or ""))
        all_files = {rel: md5 for _, files in expanded for rel, md5 in (files or {}).items()}
        if wanted:
            selected = {rel: md5 for rel, md5 in all_files.items() if scope.selected(rel, wanted)}
        else:
            selected = all_files
        unknown = prefer - set(selected)
        if unknown:
            raise UsageError(
                f"--prefer-remote {sorted(unknown)[0]}: not a file DVC tracks (in the targets)",
                hint="name a tracked file, e.g. one listed by `artifactctl preserve list`",
            )
        local = local_md5s(project, selected, self.jobs)

        results: dict[str, FileResult] = {}
        for rel, md5 in selected.items():
            results[rel] = _classify(rel, md5, local, rules, prefer, self.force)
        for out, files in expanded:
            if out.is_dir and (project.root / out.path).is_dir():
                for path in walk_files(project.root / out.path):
                    rel = project.rel(path)
                    if (
                        rel not in (files or {})
                        and scope.selected(rel, wanted)
                        and BACKUP_MARK not in rel
                    ):
                        kept = "preserved" if is_preserved(rel, rules) else "extra"
                        results[rel] = FileResult(
                            rel, kept, detail="not in DVC's record; left as is"
                        )

        to_write = [r.path for r in results.values() if r.state in ("pulled", "backed_up")]
        gone = objects_absent(project.cache_dir, {selected[rel] for rel in to_write})
        absent = sorted(rel for rel in to_write if selected[rel] in gone)
        if absent:
            more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            named = ", ".join(self._why(rel, selected[rel]) for rel in absent[:3])
            raise self.not_fetched(
                f"{len(absent)} file(s) did not reach the cache (missing on the remote, or "
                f"corrupted there): {named}{more}"
            )
        return selected, results

    def _why(self, rel: str, md5: str) -> str:
        reason = self.unfetched.get(md5)
        return f"{rel} ({reason})" if reason else rel


BACKUP_MARK = ".local-"


def _classify(
    rel: str,
    md5: str,
    local: dict[str, str | None],
    rules: list[str],
    prefer: set[str],
    force: bool,
) -> FileResult:
    if rel not in local:
        return FileResult(rel, "pulled")
    if local[rel] is None:
        return FileResult(rel, "modified", detail="unreadable; left as is")
    if local[rel] == md5:
        return FileResult(rel, "unchanged")
    if rel in prefer:
        return FileResult(rel, "backed_up", detail="--prefer-remote: took the remote version")
    if is_preserved(rel, rules):
        return FileResult(rel, "preserved", detail="local copy differs from DVC's; kept")
    if force:
        return FileResult(rel, "backed_up", detail="--force: took the remote version")
    return FileResult(rel, "modified", detail="local edit; left as is (--force replaces it)")


def _write_failed(exc: OSError, where: str = "the workspace") -> EnvironmentProblem:
    return EnvironmentProblem(
        f"writing {where} failed: {exc.strerror or exc} ({exc.filename})",
        hint="free some space (or fix the permissions) and run the pull again",
    )


STATE_BATCH = 5000  # files told to DVC's state at a time: memory stays flat


class _StateWriter:
    """DVC's state database, told the md5 of the files written and verified (as DVC's
    checkout does, so `dvc status` does not re-read them). Best effort: the state is only
    a cache of hashes. Importing DVC and opening the repository takes about 0.3 s, so it
    is done on a thread while the pull plans and writes the workspace: not during the
    fetch, whose threads it would slow by more than that (importing holds the GIL, which
    the fetch's threads take back after every read and write)."""

    def __init__(self, project: Project) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.project = project
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.opened: Future | None = None

    def open(self) -> None:
        from artifactctl.dvc import repo as dvcrepo

        if self.opened is None:
            self.opened = self.pool.submit(dvcrepo.open_repo, self.project.root)

    def record(self, files: list[tuple[str, str]]) -> None:
        from artifactctl.dvc import repo as dvcrepo

        self.open()
        assert self.opened is not None
        with contextlib.suppress(Exception):
            for k in range(0, len(files), STATE_BATCH):  # DVC builds a list per call
                chunk = files[k : k + STATE_BATCH]
                dvcrepo.record_hashes(self.opened.result(), self.project.root, chunk)

    def close(self) -> None:
        if self.opened is not None:
            with contextlib.suppress(Exception):
                self.opened.result().close()
        self.pool.shutdown()


def _sizes(project: Project, items: list[tuple[str, str]], staged: set[str]) -> list[int]:
    """Bytes each file's checkout copies: none for the first file of a staged object (a
    rename), else its cache object's size (0 if absent)."""
    objects = os.path.join(project.cache_dir, "files", "md5", "")
    renamed: set[str] = set()
    sizes = []
    for _, md5 in items:
        if md5 in staged and md5 not in renamed:
            renamed.add(md5)
            sizes.append(0)
        else:
            sizes.append(object_size(objects, md5))
    return sizes


def _bytes_to_fetch(project: Project, outs: list[TrackedOut]) -> float | None:
    total = 0
    for out in outs:
        if out.md5 and not cache_object(project.cache_dir, out.md5).exists():
            total += out.size or 0
    return float(total) or None


def _make_backups(project: Project, results: list[FileResult], selected: dict[str, str]) -> None:
    """Copy each file about to be replaced into .artifactctl/backups/ (backups.py)."""
    made = make_backups(project, [(r.path, selected[r.path], r.detail) for r in results])
    for result in results:
        result.backup = made[result.path]
