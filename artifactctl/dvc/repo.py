"""The one module that imports DVC (lazily, inside functions).

DVC's ``Repo`` API is internal but stable in practice; every DvcException is
turned into a DvcError/RemoteError (exit 3) with DVC's own first line.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifactctl.errors import CheckFailed, DvcError, RemoteError

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StageFailed(CheckFailed):
    """A pipeline stage exited non-zero (exit 1); the message ends with its output's tail."""

    def __init__(self, stage: str, detail: str, log: Path | None, tail: str | None = None) -> None:
        if tail is None:
            tail = log_tail(log) if log is not None else ""
        text = f"stage {stage!r} failed: {detail}"
        if tail:
            text += "\n" + tail
        hint = f"full output: {log}" if log is not None else "fix the stage and run it again"
        super().__init__(text, hint)
        self.stage = stage
        self.tail = tail


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _message(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip() or type(exc).__name__
    return " ".join(text.split())


@contextlib.contextmanager
def dvc_errors(action: str, *, remote: bool = False) -> Iterator[None]:
    """Translate DVC's exceptions into artifactctl's, naming the action."""
    from dvc.exceptions import DvcException

    try:
        yield
    except DvcException as exc:
        cls = RemoteError if remote else DvcError
        raise cls(f"{action} failed: {_message(exc)}") from exc
    except OSError as exc:
        if remote:
            raise RemoteError(f"{action} failed: {_message(exc)}") from exc
        raise


def open_repo(root: Path) -> Any:
    """A dvc.repo.Repo for ``root`` (import cost paid only here)."""
    with dvc_errors("opening the DVC repository"):
        from dvc.repo import Repo

        return Repo(os.fspath(root))


def missing_on_remote(root: Path, md5s: Iterable[str], remote: str | None = None) -> set[str]:
    """The object IDs among ``md5s`` that the remote does not hold."""
    wanted = sorted(set(md5s))
    if not wanted:
        return set()
    # botocore errors are not OSErrors
    with session(root) as repo, remote_op("checking the remote"):
        odb = repo.cloud.get_remote_odb(remote, command="status")
        present = set(odb.oids_exist(wanted))
    return set(wanted) - present


class _Captured:
    """DVC's own log records during an operation (it logs the cause, then raises a count)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def first_cause(self) -> str:
        return self.messages[0] if self.messages else ""


@contextlib.contextmanager
def _capture_dvc_log() -> Iterator[_Captured]:
    """Collect DVC's warnings and errors instead of letting them reach stderr as tracebacks."""
    import logging

    captured = _Captured()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = record.getMessage()
            except Exception:
                text = str(record.msg)
            if record.exc_info and record.exc_info[1] is not None:
                text = f"{text}: {_root_cause(record.exc_info[1])}"
            captured.messages.append(" ".join(text.split()))

    handler = Handler(level=logging.WARNING)
    saved = []
    for name in ("dvc", "dvc_data", "dvc_objects"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.handlers[:]))
        # Only ours: DVC's own handler (if its CLI ever set one up) would print tracebacks.
        logger.handlers = [handler]
        logger.propagate = False
    try:
        yield captured
    finally:
        for logger, propagate, handlers in saved:
            logger.handlers = handlers
            logger.propagate = propagate


def _root_cause(exc: BaseException) -> str:
    seen = set()
    while (exc.__cause__ or exc.__context__) and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return _message(exc)


@contextlib.contextmanager
def remote_op(action: str) -> Iterator[None]:
    """Like dvc_errors(remote=True), adding the first cause DVC logged (credentials, network)."""
    with _capture_dvc_log() as captured:
        try:
            yield
        except Exception as exc:  # DVC, botocore, aiohttp, OSError: all mean the transfer failed
            cause = captured.first_cause()
            text = _message(exc)
            if cause and cause not in text:
                text = f"{text} ({cause})"
            if len(text) > 400:
                text = text[:400] + "..."
            raise RemoteError(f"{action} failed: {text}") from exc


@contextlib.contextmanager
def session(root: Path) -> Iterator[Any]:
    """One open DVC repository for several operations (opening one costs ~0.1 s)."""
    repo = open_repo(root)
    try:
        yield repo
    finally:
        repo.close()


def fetch(
    root: Path,
    targets: list[str] | None,
    remote: str,
    jobs: int | None = None,
    *,
    repo: Any = None,
) -> int:
    """Download the objects of ``targets`` (all outputs when None) into the cache only."""
    with contextlib.ExitStack() as stack:
        if repo is None:
            repo = stack.enter_context(session(root))
        with remote_op(f"fetching from remote '{remote}'"):
            return int(repo.fetch(targets=targets, remote=remote, jobs=jobs or None))


def record_hashes(repo: Any, root: Path, files: Iterable[tuple[str, str]]) -> None:
    """Tell DVC's state database the MD5 of workspace files just written and verified.

    DVC's own checkout does the same, so a later ``dvc status`` does not re-read
    them. Best effort: the state is only a cache of hashes.
    """
    try:
        from dvc_data.hashfile.hash_info import HashInfo

        items = [(os.path.join(root, rel), HashInfo("md5", md5), None) for rel, md5 in files]
        repo.state.save_many(items, repo.fs)
    except Exception:
        return


def push(root: Path, targets: list[str] | None, remote: str, jobs: int | None = None) -> int:
    """Upload the cached objects of ``targets`` (all outputs when None); returns the count."""
    with session(root) as repo, remote_op(f"pushing to remote '{remote}'"):
        return int(repo.push(targets=targets, remote=remote, jobs=jobs or None))


def remote_filesystem(repo: Any, remote: str, pool: int) -> tuple[Any, str]:
    """The fsspec filesystem DVC builds for ``remote`` (pool widened), and its objects' path."""
    odb = repo.cloud.get_remote_odb(remote, command="fetch")
    odb.fs.fs_args.setdefault("config_kwargs", {})["max_pool_connections"] = pool
    return odb.fs.fs, odb.path


def cache_files(root: Path, files: Iterable[tuple[Path, str]]) -> None:
    """Copy workspace files (already hashed: ``(path, md5)``) into the DVC cache."""
    with session(root) as repo, dvc_errors("adding files to the DVC cache"):
        for path, md5 in files:
            repo.cache.local.add(os.fspath(path), repo.fs, md5, hardlink=False)


def transfer_objects(
    root: Path, md5s: Iterable[str], remote: str, *, upload: bool, jobs: int | None = None
) -> int:
    """Push (``upload``) or fetch the objects ``md5s``; the count moved (absent ones skipped)."""
    wanted = sorted(set(md5s))
    if not wanted:
        return 0
    from dvc_data.hashfile.hash_info import HashInfo

    action = f"pushing to remote '{remote}'" if upload else f"fetching from remote '{remote}'"
    with session(root) as repo, remote_op(action):
        move = repo.cloud.push if upload else repo.cloud.pull
        result = move([HashInfo("md5", m) for m in wanted], jobs=jobs or None, remote=remote)
    return len(result.transferred)


def edit_config(root: Path, level: str, changes: dict[str, Any]) -> None:
    """Merge ``changes`` ({section: {key: value}}) into DVC's config at ``level`` (repo/local).

    DVC validates the result against its schema (an unknown option is an error).
    """
    with dvc_errors("editing the DVC config"):
        from dvc.config import Config

        config = Config(dvc_dir=os.fspath(Path(root) / ".dvc"), validate=False)
        with config.edit(level) as conf:
            for section, values in changes.items():
                node = conf
                for part in section.split(".", 1):
                    node = node.setdefault(part, {})
                node.update(values)


# --- dvc repro, with the overwrite policy decided before anything runs ---


@dataclass(frozen=True)
class ReproStep:
    """One stage ``dvc repro`` would visit, and whether it would run."""

    name: str  # DVC's addressing: "train@v2-006"
    would_run: bool
    reason: str  # "forced", "changed", "upstream", "" (unchanged)
    outs: tuple[str, ...]  # repository-relative POSIX paths
    persist: tuple[str, ...]  # outs DVC does not delete before running (persist: true)


@dataclass
class StageRun:
    name: str
    ran: bool
    seconds: float
    log: Path
    error: str | None = None


def reproduce(
    root: Path,
    targets: list[str] | None,
    *,
    force: bool,
    approve: Callable[[list[ReproStep]], None],
    log_dir: Path,
    on_start: Callable[[str], None] = lambda name: None,
    on_end: Callable[[StageRun], None] = lambda run: None,
) -> list[StageRun]:
    """``dvc repro [--force] [targets]``, after ``approve(plan)`` has accepted the plan.

    The plan lists every stage DVC would visit, in DVC's order, and whether it
    would run (changed, forced, or downstream of a stage that runs: DVC deletes
    a running stage's outputs first, so this is decided before anything runs).
    ``approve`` raises to stop. Each stage's stdout/stderr goes to
    ``log_dir/<stage>.log``; a failing stage raises StageFailed.
    """
    repo = open_repo(root)
    try:
        from dvc.repo import lock_repo

        # One DVC lock over planning and running: nothing changes in between.
        with lock_repo(repo), interpreter_first_on_path():
            return _plan_and_run(repo, root, targets, force, approve, log_dir, on_start, on_end)
    finally:
        repo.close()


@contextlib.contextmanager
def interpreter_first_on_path() -> Iterator[None]:
    """Stage commands say ``python ...``: DVC runs them with ``os.environ``, so put the
    interpreter artifactctl runs in first (`make refresh` with the venv not activated)."""
    import sys

    saved = os.environ.get("PATH")
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, saved]) if saved else bin_dir
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved


def _plan_and_run(
    repo: Any,
    root: Path,
    targets: list[str] | None,
    force: bool,
    approve: Callable[[list[ReproStep]], None],
    log_dir: Path,
    on_start: Callable[[str], None],
    on_end: Callable[[StageRun], None],
) -> list[StageRun]:
    import time

    with dvc_errors("planning dvc repro"):
        from dvc.repo.reproduce import (
            _reproduce,
            _reproduce_stage,
            collect_stages,
            get_active_graph,
        )
        from dvc.repo.reproduce import plan_repro as dvc_plan

        chosen = collect_stages(repo, targets or ["dvc.yaml"])
        graph = get_active_graph(repo.index.graph)
        steps = dvc_plan(graph, chosen)
        plan = _plan(root, graph, steps, force)
    approve(plan)

    runs: list[StageRun] = []
    log_dir.mkdir(parents=True, exist_ok=True)

    outer: list[_Capture] = []

    def report(callback: Callable[[Any], None], arg: Any) -> None:
        with outer[0].paused() if outer else contextlib.nullcontext():
            callback(arg)

    def repro_fn(stage: Any, **kwargs: Any) -> Any:
        name = stage.addressing
        log = log_dir / (_safe(name) + ".log")
        report(on_start, name)
        began = time.monotonic()
        try:
            with _capture(log):
                ret = _reproduce_stage(stage, **kwargs)
        except Exception as exc:
            run = StageRun(name, True, time.monotonic() - began, log, _message(exc))
            runs.append(run)
            report(on_end, run)
            raise
        run = StageRun(name, ret is not None, time.monotonic() - began, log)
        runs.append(run)
        report(on_end, run)
        return ret

    from dvc.exceptions import ReproductionError

    try:
        # DVC's own messages (the "git add dvc.lock" advice) must not reach --json stdout.
        with dvc_errors("dvc repro"), _capture(log_dir / "dvc.log") as cap:
            outer.append(cap)
            # Exactly the steps that were approved, as Repo.reproduce would run them
            # (it re-collects and re-plans; the repository is locked, so same result).
            with repo.scm_context():
                _reproduce(
                    steps,
                    graph=graph,
                    on_error="fail",
                    force=force,
                    interactive=repo.config["core"].get("interactive", False),
                    repro_fn=repro_fn,
                )
    except DvcError as exc:
        failed = next((r for r in runs if r.error is not None), None)
        if failed is not None and isinstance(exc.__cause__, ReproductionError):
            raise StageFailed(failed.name, failed.error or "", failed.log) from None
        raise
    return runs


def _plan(root: Path, graph: Any, steps: list[Any], force: bool) -> list[ReproStep]:
    would: dict[Any, bool] = {}
    plan = []
    for stage in steps:
        upstream = any(would.get(dep, False) for dep in graph.successors(stage))
        if stage.frozen and not force:
            run, reason = False, ""
        elif force:
            run, reason = True, "forced"
        elif stage.changed():
            run, reason = True, "changed"
        elif upstream:
            run, reason = True, "upstream"
        else:
            run, reason = False, ""
        would[stage] = run
        outs = tuple(_rel(root, out.fs_path) for out in stage.outs)
        persist = tuple(_rel(root, out.fs_path) for out in stage.outs if out.persist)
        plan.append(ReproStep(stage.addressing, run, reason, outs, persist))
    return plan


def _rel(root: Path, path: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "@-_." else "_" for c in name)


class _Capture:
    """Send everything DVC and the stages print to a log file: --json stdout stays clean.

    Three layers: fd 1 and 2 (a stage's subprocess inherits them), sys.stdout
    and sys.stderr (DVC's ui), and the streams DVC's log handlers captured when
    dvc was imported (they may belong to a caller that has since closed them).
    ``paused()`` gives the terminal back for a moment (progress callbacks).
    """

    def __init__(self) -> None:
        self.file: Any = None

    def start(self, log: Path) -> None:
        import logging
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        self.fds = os.dup(1), os.dup(2)
        self.streams = sys.stdout, sys.stderr
        self.handlers = [
            h for h in logging.getLogger("dvc").handlers if isinstance(h, logging.StreamHandler)
        ]
        self.handler_streams = [h.stream for h in self.handlers]
        self.file = open(log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._to_file()

    def _to_file(self) -> None:
        import sys

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(ValueError, OSError):
                stream.flush()
        os.dup2(self.file.fileno(), 1)
        os.dup2(self.file.fileno(), 2)
        sys.stdout = sys.stderr = self.file
        for handler in self.handlers:
            handler.stream = self.file

    def _back(self) -> None:
        import sys

        self.file.flush()
        sys.stdout, sys.stderr = self.streams
        for handler, stream in zip(self.handlers, self.handler_streams, strict=True):
            handler.stream = stream
        os.dup2(self.fds[0], 1)
        os.dup2(self.fds[1], 2)

    def stop(self) -> None:
        self._back()
        for f in self.fds:
            os.close(f)
        self.file.close()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._back()
        try:
            yield
        finally:
            self._to_file()


@contextlib.contextmanager
def _capture(log: Path) -> Iterator[_Capture]:
    cap = _Capture()
    cap.start(log)
    try:
        yield cap
    finally:
        cap.stop()
