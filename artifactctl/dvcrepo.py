"""The one module that imports DVC (lazily, inside functions).

DVC's ``Repo`` API is internal but stable in practice; every DvcException is
turned into a DvcError/RemoteError (exit 3) with DVC's own first line.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from artifactctl.errors import DvcError, RemoteError

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


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
    repo = open_repo(root)
    try:
        with dvc_errors("checking the remote", remote=True):
            odb = repo.cloud.get_remote_odb(remote, command="status")
            present = set(odb.oids_exist(wanted))
    finally:
        repo.close()
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
def _remote_op(action: str) -> Iterator[None]:
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


def fetch(root: Path, targets: list[str] | None, remote: str, jobs: int | None = None) -> int:
    """Download the objects of ``targets`` (all outputs when None) into the cache only."""
    repo = open_repo(root)
    try:
        with _remote_op(f"fetching from remote '{remote}'"):
            return int(repo.fetch(targets=targets, remote=remote, jobs=jobs or None))
    finally:
        repo.close()


def checkout(root: Path, targets: list[str] | None) -> dict[str, Any]:
    """Check out outputs from the cache, replacing what differs (callers decide what is safe)."""
    repo = open_repo(root)
    try:
        with _capture_dvc_log(), dvc_errors("checking out from the cache"):
            return dict(repo.checkout(targets=targets, force=True) or {})
    finally:
        repo.close()


def push(root: Path, targets: list[str] | None, remote: str, jobs: int | None = None) -> int:
    """Upload the cached objects of ``targets`` (all outputs when None); returns the count."""
    repo = open_repo(root)
    try:
        with _remote_op(f"pushing to remote '{remote}'"):
            return int(repo.push(targets=targets, remote=remote, jobs=jobs or None))
    finally:
        repo.close()


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
