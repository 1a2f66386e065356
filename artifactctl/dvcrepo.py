"""The one module that imports DVC (lazily, inside functions).

DVC's ``Repo`` API is internal but stable in practice; every DvcException is
turned into a DvcError/RemoteError (exit 3) with DVC's own first line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from artifactctl.errors import DvcError, RemoteError

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
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
